// The substrate of pdc's several-host design (docs/cluster.md), checked on
// Debian's nats-server and libnats as the bridge will use them: three
// servers on loopback form one cluster, a message crosses between servers,
// a request finds its responder on another server, and a stream replicated
// on all three keeps every acknowledged message while one server is killed
// and its clients fail over.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <string>
#include <vector>

#include "cluster/nats_cluster.hpp"

namespace pdc::test {
namespace {

struct connection {
  natsConnection* nc = nullptr;
  connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { natsConnection_Destroy(nc); }
};

// A client of the servers at `urls` that reconnects forever, every 50 ms.
natsStatus connect(connection& c, const std::vector<std::string>& urls) {
  std::vector<const char*> list;
  for (const auto& u : urls) list.push_back(u.c_str());
  natsOptions* o = nullptr;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetServers(o, list.data(), static_cast<int>(list.size()));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 50);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);
  if (s == NATS_OK) s = natsConnection_Connect(&c.nc, o);
  natsOptions_Destroy(o);
  return s;
}

class NatsCluster : public testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < cluster.size(); ++i) ASSERT_TRUE(cluster.ready(i)) << "nats-server " << i << " did not start";
  }
  void TearDown() override { nats_Close(); }
  nats_cluster cluster{3};
};

TEST_F(NatsCluster, AMessagePublishedOnOneServerReachesASubscriberOnAnother) {
  connection a;
  connection c;
  ASSERT_EQ(connect(a, {cluster.url(0)}), NATS_OK);
  ASSERT_EQ(connect(c, {cluster.url(2)}), NATS_OK);
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&sub, a.nc, "pdc.b.echo"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(a.nc), NATS_OK);
  // The interest crosses the routes asynchronously: publish until it arrives.
  natsMsg* got = nullptr;
  ASSERT_TRUE(eventually([&] {
    natsConnection_PublishString(c.nc, "pdc.b.echo", "across");
    return natsSubscription_NextMsg(&got, sub, 50) == NATS_OK;
  })) << "no message crossed from server 2 to server 0";
  EXPECT_EQ(std::string(natsMsg_GetData(got), static_cast<std::size_t>(natsMsg_GetDataLength(got))), "across");
  natsMsg_Destroy(got);
  natsSubscription_Destroy(sub);
}

TEST_F(NatsCluster, ARequestFindsItsResponderOnAnotherServer) {
  connection responder;
  connection requester;
  ASSERT_EQ(connect(responder, {cluster.url(1)}), NATS_OK);
  ASSERT_EQ(connect(requester, {cluster.url(2)}), NATS_OK);
  natsSubscription* sub = nullptr;
  ASSERT_EQ(natsConnection_Subscribe(
                &sub, responder.nc, "pdc.b.double",
                [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
                  const std::string in(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
                  const std::string out = in + in;
                  natsConnection_Publish(nc, natsMsg_GetReply(m), out.data(), static_cast<int>(out.size()));
                  natsMsg_Destroy(m);
                },
                nullptr),
            NATS_OK);
  ASSERT_EQ(natsConnection_Flush(responder.nc), NATS_OK);
  natsMsg* reply = nullptr;
  ASSERT_TRUE(eventually([&] {
    return natsConnection_RequestString(&reply, requester.nc, "pdc.b.double", "ab", 200) == NATS_OK;
  })) << "no reply across the cluster";
  EXPECT_EQ(std::string(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply))), "abab");
  natsMsg_Destroy(reply);
  natsSubscription_Destroy(sub);
}

TEST_F(NatsCluster, AReplicatedStreamKeepsEveryAcknowledgedMessageWhileAServerIsKilled) {
  connection c;
  ASSERT_EQ(connect(c, cluster.urls()), NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, c.nc, nullptr), NATS_OK);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "PDC_TEST";
  const char* subjects[] = {"pdc.b.>"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = 3;
  // The JetStream meta leader is elected after the routes form.
  ASSERT_TRUE(eventually([&] {
    jsStreamInfo* si = nullptr;
    jsErrCode e{};
    if (js_AddStream(&si, js, &cfg, nullptr, &e) != NATS_OK) return false;
    jsStreamInfo_Destroy(si);
    return true;
  })) << "no replicated stream (JetStream cluster not formed)";

  // Publish with acknowledgement; a publish that is not acknowledged is
  // retried with the same message id (the stream de-duplicates it).
  int acked = 0;
  auto publish = [&](int i) {
    const std::string body = "m" + std::to_string(i);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    const std::string id = "id-" + std::to_string(i);
    po.MsgId = id.c_str();
    po.MaxWait = 2000;
    return eventually([&] {
      jsPubAck* ack = nullptr;
      const natsStatus s = js_Publish(&ack, js, "pdc.b.k", body.data(), static_cast<int>(body.size()), &po, nullptr);
      jsPubAck_Destroy(ack);
      return s == NATS_OK;
    });
  };
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(publish(i)) << "message " << i << " was never acknowledged";
    ++acked;
  }
  cluster.kill(0);  // mid-stream, without a word
  for (int i = 200; i < 400; ++i) {
    ASSERT_TRUE(publish(i)) << "message " << i << " was never acknowledged after a server was killed";
    ++acked;
  }
  cluster.start(0);
  ASSERT_TRUE(cluster.ready(0));
  std::uint64_t stored = 0;
  EXPECT_TRUE(eventually([&] {
    jsStreamInfo* si = nullptr;
    jsErrCode e{};
    if (js_GetStreamInfo(&si, js, "PDC_TEST", nullptr, &e) != NATS_OK) return false;
    stored = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return stored == static_cast<std::uint64_t>(acked);
  })) << "the stream holds "
      << stored << " of " << acked << " acknowledged messages";
  jsCtx_Destroy(js);
}

}  // namespace
}  // namespace pdc::test

// Several hosts (docs/cluster.md): pdcd nodes on a loopback NATS cluster of
// three servers whose authorization binds each node to its name. Requests
// from a client of one node to a kernel of another and back, kernels
// routing to kernels across nodes, access lists against remote senders, a
// node posing as another, malformed frames, and a server killed mid-stream.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cluster/nats_cluster.hpp"
#include "integration/harness.hpp"
#include "pdc/client.hpp"
#include "pdc/proto/envelope.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

// Each node's NATS user may publish only on subjects that end with its own
// name, subscribe only to its own subjects and replies, and answer the
// requests it receives: the sender a subject names is then the sender.
std::string authorization() {
  std::string users;
  for (const std::string n : {"a", "b", "c"}) {
    users += "    {user: " + n + ", password: pw-" + n + ", permissions: {publish: {allow: [\"pdc.*.*." + n +
             "\", \"pdcjs.*.*." + n +
             "\", \"$JS.API.>\", \"$JS.ACK.>\", \"_pdc_reply.>\"]}, subscribe: {allow: [\"pdc." + n +
             ".>\", \"_pdc_reply." + n + ".>\", \"_pdc_deliver." + n + ".>\"]}, allow_responses: true}}\n";
  }
  return "authorization {\n  users = [\n" + users + "  ]\n}\n";
}

std::string text_of(const received_message& m) {
  return {reinterpret_cast<const char*>(m.payload.data()), m.payload.size()};
}

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s));
}

// One pdcd as a node of the cluster: `node` its name, `user` the NATS user it
// authenticates as (its own name, unless a test makes it pose as another).
class node_process {
 public:
  node_process(const std::string& node, const std::vector<std::string>& urls, const std::string& kernels,
               const std::string& user = {}) {
    const std::string u = user.empty() ? node : user;
    std::string list;
    for (const auto& url : urls) list += (list.empty() ? "\"" : ", \"") + url + "\"";
    config_ = dir_.path() + "/pdcd.toml";
    std::ofstream(config_) << "[cluster]\nnode = \"" << node << "\"\nurls = [" << list << "]\nuser = \"" << u
                           << "\"\npassword = \"pw-" << u
                           << "\"\nrequest_timeout_ms = 20000\njetstream = true\nreplicas = 3\n\n"
                           << kernels;
    pdcd_ = std::make_unique<daemon_process>(std::vector<std::string>{"--config", config_, "--load", "pdc_echo.so",
                                                                      "--load", "pdc_double.so", "--load",
                                                                      "pdc_counter.so", "--load", "pdc_router.so"});
  }
  [[nodiscard]] daemon_process& pdcd() { return *pdcd_; }
  [[nodiscard]] client connect() const {
    auto c = client::connect(pdcd_->socket(), "cluster-test");
    if (!c) throw std::runtime_error(c.err().what());
    return std::move(c).value();
  }

 private:
  temp_dir dir_;
  std::string config_;
  std::unique_ptr<daemon_process> pdcd_;
};

// The value of the Prometheus sample `series` (name and labels, exactly), or -1.
double sample(client& c, const std::string& series) {
  auto m = c.metrics({}, metrics_format::prometheus);
  if (!m) return -1;
  const std::string& text = m->text;
  for (std::size_t at = text.find(series); at != std::string::npos; at = text.find(series, at + 1)) {
    if ((at == 0 || text[at - 1] == '\n') && text.compare(at + series.size(), 1, " ") == 0) {
      return std::stod(text.substr(at + series.size() + 1));
    }
  }
  return -1;
}

// Until a request from `c` to `address` gets its reply (interest travels
// between the servers shortly after a node subscribes).
bool reachable(client& c, const std::string& address) {
  return eventually([&] { return c.request(address, bytes("ping"), 2'000'000'000).has_value(); },
                    std::chrono::milliseconds(30'000));
}

const char* const k_b_kernels =
    "[[kernel]]\ntype = \"echo\"\nid = \"echo\"\nexport = true\naccess = [\"node:a=send\"]\n\n"
    "[[kernel]]\ntype = \"echo\"\nid = \"hidden\"\n\n"
    "[[kernel]]\ntype = \"double\"\nid = \"double\"\nexport = true\naccess = [\"node:a=send\"]\n\n"
    "[[kernel]]\ntype = \"counter\"\nid = \"counter\"\nexport = true\naccess = [\"node:*=send\"]\n\n"
    "[[kernel]]\ntype = \"counter\"\nid = \"durable\"\nexport = true\ndelivery = \"at_least_once\"\n"
    "access = [\"node:a=send\"]\n";

// Until the servers' JetStream has its leader and takes a stream on all three.
bool jetstream_ready(const std::string& url) {
  return eventually(
      [&] {
        natsOptions* o = nullptr;
        natsConnection* nc = nullptr;
        jsCtx* js = nullptr;
        bool made = natsOptions_Create(&o) == NATS_OK && natsOptions_SetURL(o, url.c_str()) == NATS_OK &&
                    natsOptions_SetUserInfo(o, "a", "pw-a") == NATS_OK &&
                    natsOptions_SetCustomInboxPrefix(o, "_pdc_reply.a") == NATS_OK &&
                    natsConnection_Connect(&nc, o) == NATS_OK && natsConnection_JetStream(&js, nc, nullptr) == NATS_OK;
        if (made) {
          jsStreamConfig sc;
          jsStreamConfig_Init(&sc);
          const char* subjects[] = {"pdcjs.probe.probe.a"};
          sc.Name = "PDC_probe";
          sc.Subjects = subjects;
          sc.SubjectsLen = 1;
          sc.Replicas = 3;
          made = js_AddStream(nullptr, js, &sc, nullptr, nullptr) == NATS_OK &&
                 js_DeleteStream(js, "PDC_probe", nullptr, nullptr) == NATS_OK;
        }
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        natsOptions_Destroy(o);
        return made;
      },
      std::chrono::milliseconds(60'000));
}

// A plain NATS connection with node `user`'s credentials (what a hostile
// publisher holding them could send); nc is null when it cannot connect.
struct raw_connection {
  natsOptions* o = nullptr;
  natsConnection* nc = nullptr;
  raw_connection(const std::string& url, const std::string& user) {
    const std::string password = "pw-" + user, inbox = "_pdc_reply." + user;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url.c_str()) != NATS_OK ||
        natsOptions_SetUserInfo(o, user.c_str(), password.c_str()) != NATS_OK ||
        natsOptions_SetCustomInboxPrefix(o, inbox.c_str()) != NATS_OK || natsConnection_Connect(&nc, o) != NATS_OK) {
      natsConnection_Destroy(nc);
      nc = nullptr;
    }
  }
  ~raw_connection() {
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
  }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < nats_.size(); ++i) ASSERT_TRUE(nats_.ready(i, "a", "pw-a")) << nats_.logs();
    ASSERT_TRUE(jetstream_ready(nats_.url(0))) << nats_.logs();
    a_ = std::make_unique<node_process>(
        "a", std::vector<std::string>{nats_.url(0)},
        "[[kernel]]\ntype = \"router\"\nid = \"to-b\"\nconfig = \"b/double\"\n\n"
        "[[kernel]]\ntype = \"echo\"\nid = \"echo\"\nexport = true\naccess = [\"node:b=send\"]\n");
    b_ = std::make_unique<node_process>("b", std::vector<std::string>{nats_.url(1)}, k_b_kernels);
    ASSERT_TRUE(a_->pdcd().ready()) << a_->pdcd().log();
    ASSERT_TRUE(b_->pdcd().ready()) << b_->pdcd().log();
    ca_.emplace(a_->connect());
    cb_.emplace(b_->connect());
    ASSERT_TRUE(reachable(*ca_, "b/echo")) << a_->pdcd().log() << b_->pdcd().log();
  }

  nats_cluster nats_{3, authorization()};
  std::unique_ptr<node_process> a_, b_;
  std::optional<client> ca_, cb_;
};

TEST_F(ClusterTest, ARequestFromAClientOfOneNodeReachesAKernelOfAnotherAndItsReplyComesBack) {
  for (int i = 0; i < 200; ++i) {
    const std::string text = "hello " + std::to_string(i);
    auto r = ca_->request("b/echo", bytes(text), k_wait_ns);
    ASSERT_TRUE(r) << i << ": " << r.err().what();
    EXPECT_EQ(text_of(*r), text);
    EXPECT_EQ(r->kernel_id, "b/echo");
  }
  // And the other way, from b to a.
  ASSERT_TRUE(reachable(*cb_, "a/echo"));
  auto back = cb_->request("a/echo", bytes("from b"), k_wait_ns);
  ASSERT_TRUE(back) << back.err().what();
  EXPECT_EQ(text_of(*back), "from b");
  // pdcctl takes the address as it takes a local id.
  const auto out = a_->pdcd().pdcctl({"send", "b/double", "--int64", "21", "--wait-reply", "--timeout", "20000"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("42"), std::string::npos) << out.out;
  // Both ends count it, per peer.
  EXPECT_GE(sample(*ca_, "pdc_cluster_messages_total{node=\"a\",peer=\"b\",direction=\"out\"}"), 201);
  EXPECT_GE(sample(*ca_, "pdc_cluster_round_trip_seconds_count{node=\"a\",peer=\"b\"}"), 201);
  EXPECT_GE(sample(*cb_, "pdc_cluster_messages_total{node=\"b\",peer=\"a\",direction=\"in\"}"), 201);
  EXPECT_EQ(sample(*ca_, "pdc_cluster_connected{node=\"a\"}"), 1);
}

TEST_F(ClusterTest, KernelsOfOneNodeRouteToKernelsOfAnother) {
  // to-b (node a, a router) send_to's b/double, whose answers nobody
  // awaits: they are outputs, to b's subscribers.
  ASSERT_TRUE(cb_->subscribe("double"));
  for (std::int64_t i = 1; i <= 100; ++i) {
    std::byte v[8];
    std::memcpy(v, &i, sizeof v);
    send_options o;
    o.no_reply = true;
    ASSERT_TRUE(ca_->send("to-b", v, o));
  }
  for (std::int64_t i = 1; i <= 100; ++i) {
    auto m = cb_->receive(k_wait_ns);
    ASSERT_TRUE(m) << i << ": " << m.err().what();
    ASSERT_EQ(m->payload.size(), 8U);
    std::int64_t got = 0;
    std::memcpy(&got, m->payload.data(), sizeof got);
    EXPECT_EQ(got, 2 * i);  // in order
  }
  // A stream through an attachment: the router's sends come faster than
  // one per 100 us, and travel batched; still every one, in order.
  auto at = ca_->attach("to-b");
  ASSERT_TRUE(at) << at.err().what();
  constexpr std::int64_t k_stream = 2000;
  for (std::int64_t i = 1; i <= k_stream; ++i) {
    auto slot = at->begin_send(8, {.type_id = 0, .priority = k_default_priority, .ack = true, .no_reply = true});
    ASSERT_TRUE(slot) << slot.err().what();
    std::memcpy(slot->payload.data(), &i, 8);
    if (i % 64 == 0) at->flush();
  }
  at->flush();
  for (std::int64_t i = 1; i <= k_stream; ++i) {
    auto m = cb_->receive(k_wait_ns);
    ASSERT_TRUE(m) << i << ": " << m.err().what();
    ASSERT_EQ(m->payload.size(), 8U);
    std::int64_t got = 0;
    std::memcpy(&got, m->payload.data(), sizeof got);
    ASSERT_EQ(got, 2 * i);
  }
  std::printf("batches a -> b: %.0f\n", sample(*ca_, "pdc_cluster_batches_total{node=\"a\",direction=\"out\"}"));
}

TEST_F(ClusterTest, WhatANodeDoesNotExportOrCannotBeReachedIsAClearError) {
  auto hidden = ca_->request("b/hidden", bytes("x"), k_wait_ns);
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.err().code, errc::not_found);
  EXPECT_NE(hidden.err().what().find("node 'b' exports no kernel 'hidden'"), std::string::npos) << hidden.err().what();
  auto none = ca_->request("b/nothing", bytes("x"), k_wait_ns);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.err().code, errc::not_found);
  auto nobody = ca_->request("zz/echo", bytes("x"), k_wait_ns);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.err().code, errc::not_found);
  EXPECT_NE(nobody.err().what().find("no pdcd of node 'zz'"), std::string::npos) << nobody.err().what();
  // Export needs an id NATS can carry.
  launch_options o;
  o.kernel_type = "echo";
  o.kernel_id = "with.dot";
  o.exported = true;
  auto l = ca_->launch(o);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.err().code, errc::invalid_argument);
  EXPECT_NE(l.err().what().find("must not hold one"), std::string::npos) << l.err().what();
  // A session of a pdcd that is no node gets not_found at once.
  daemon_process lone;
  ASSERT_TRUE(lone.ready());
  auto cl = client::connect(lone.socket(), "cluster-test");
  ASSERT_TRUE(cl);
  auto r = cl->request("b/echo", bytes("x"), k_wait_ns);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::not_found);
  EXPECT_NE(r.err().what().find("no node of a cluster"), std::string::npos) << r.err().what();
  // Nothing of this disturbed the way that works.
  auto ok = ca_->request("b/echo", bytes("still"), k_wait_ns);
  ASSERT_TRUE(ok) << ok.err().what();
  EXPECT_EQ(text_of(*ok), "still");
}

TEST_F(ClusterTest, AnAccessListRefusesANodeItDoesNotNameAndANodeCannotPoseAsAnother) {
  node_process c("c", {nats_.url(2)}, "");
  ASSERT_TRUE(c.pdcd().ready()) << c.pdcd().log();
  auto cc = c.connect();
  // b/counter admits every node: c reaches b.
  ASSERT_TRUE(reachable(cc, "b/counter")) << c.pdcd().log();
  auto refused = cc.request("b/echo", bytes("x"), k_wait_ns);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, errc::permission_denied);
  EXPECT_NE(refused.err().what().find("node 'c' may not send to kernel 'echo' of node 'b'"), std::string::npos)
      << refused.err().what();
  EXPECT_TRUE(eventually([&] {
    auto s = cb_->status("echo");
    return s && s->denied >= 1;
  }));
  // A pdcd that calls itself "a" but holds c's credentials: the servers
  // refuse what it publishes as a, so b's echo never sees it.
  auto before = cb_->status("echo");
  ASSERT_TRUE(before);
  node_process fake("a", {nats_.url(2)}, "", "c");
  ASSERT_TRUE(fake.pdcd().ready()) << fake.pdcd().log();
  auto cf = fake.connect();
  auto posed = cf.request("b/echo", bytes("i am a"), 3'000'000'000);
  ASSERT_FALSE(posed);
  EXPECT_EQ(posed.err().code, errc::timeout) << posed.err().what();
  auto after = cb_->status("echo");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->messages_in, before->messages_in);
}

TEST_F(ClusterTest, AMalformedFrameFromTheClusterIsRefusedAndCounted) {
  raw_connection raw(nats_.url(2), "c");
  ASSERT_NE(raw.nc, nullptr);
  natsConnection* nc = raw.nc;
  // A true bridge header whose envelope declares 0 payload bytes, with 5 after it.
  std::string lying(24 + 48, '\0');
  const std::uint32_t magic = 0x42434450;
  std::memcpy(lying.data(), &magic, sizeof magic);
  lying[4] = 1;  // version
  lying += "extra";
  for (const std::string& junk : {std::string("short"), std::string(24 + 48, 'x'), std::string(200, '\0'), lying}) {
    natsMsg* reply = nullptr;
    ASSERT_EQ(natsConnection_Request(&reply, nc, "pdc.b.counter.c", junk.data(), static_cast<int>(junk.size()), 10000),
              NATS_OK);
    const std::string got(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    EXPECT_NE(got.find("protocol_error: message on 'pdc.b.counter.c' is not a pdc bridge frame"), std::string::npos)
        << got;
    natsMsg_Destroy(reply);
  }
  // Junk on an at-least-once kernel's stream is terminated, not delivered again.
  ASSERT_EQ(natsConnection_PublishString(nc, "pdcjs.b.durable.c", "junk"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc), NATS_OK);
  EXPECT_TRUE(eventually([&] { return sample(*cb_, "pdc_cluster_jetstream_terminated_total{node=\"b\"}") == 1; }));
  EXPECT_EQ(sample(*cb_, "pdc_cluster_malformed_total{node=\"b\",peer=\"c\"}"), 5);
  auto durable = cb_->status("durable");
  ASSERT_TRUE(durable);
  EXPECT_EQ(durable->messages_in, 0U);
  auto s = cb_->status("counter");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->messages_in, 0U);
  auto ok = ca_->request("b/echo", bytes("fine"), k_wait_ns);
  ASSERT_TRUE(ok) << ok.err().what();
}

// A batch frame as another node's bridge writes it (docs/cluster.md, "On
// the wire"): the header says `count`, then the records, each an envelope
// and its payload.
std::string batch_frame(std::uint16_t count, const std::vector<std::string>& payloads, std::uint64_t seq) {
  std::string f(24, '\0');
  const std::uint32_t magic = 0x42434450;
  std::memcpy(f.data(), &magic, sizeof magic);
  f[4] = 1;  // version
  f[5] = 3;  // batch
  std::memcpy(f.data() + 6, &count, sizeof count);
  const std::uint64_t epoch = 77;
  std::memcpy(f.data() + 8, &epoch, sizeof epoch);
  std::memcpy(f.data() + 16, &seq, sizeof seq);
  std::uint64_t id = seq;
  for (const auto& p : payloads) {
    const envelope env = make_envelope(id++, static_cast<std::uint32_t>(p.size()), 1);
    f.append(reinterpret_cast<const char*>(&env), sizeof env);
    f += p;
  }
  return f;
}

// A batch is taken whole or refused whole: records that do not fill it
// exactly, a count it does not hold, too few or too many.
TEST_F(ClusterTest, ABatchFromTheClusterIsTakenWholeOrRefusedWhole) {
  raw_connection raw(nats_.url(2), "c");
  ASSERT_NE(raw.nc, nullptr);
  natsConnection* nc = raw.nc;
  const std::string eight(8, '\1');
  std::string overrun = batch_frame(2, {eight, eight}, 10);
  overrun.resize(overrun.size() - 1);  // the last record's payload one byte short
  const std::vector<std::string> refused{
      batch_frame(5, {eight, eight, eight}, 20),                         // says 5, holds 3
      overrun,                                                           //
      batch_frame(2, {eight, eight}, 30) + "x",                          // a byte after the last record
      batch_frame(1, {eight}, 40),                                       // a batch of one
      batch_frame(65, std::vector<std::string>(65, std::string()), 50),  // more than 64
  };
  for (const auto& junk : refused) {
    natsMsg* reply = nullptr;
    ASSERT_EQ(natsConnection_Request(&reply, nc, "pdc.b.counter.c", junk.data(), static_cast<int>(junk.size()), 10000),
              NATS_OK);
    const std::string got(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    EXPECT_NE(got.find("protocol_error: message on 'pdc.b.counter.c' is not a pdc bridge frame"), std::string::npos)
        << got;
    natsMsg_Destroy(reply);
  }
  // A true one, after them: all three of it arrive, in order.
  const std::string good = batch_frame(3, {eight, eight, eight}, 60);
  ASSERT_EQ(natsConnection_Publish(nc, "pdc.b.counter.c", good.data(), static_cast<int>(good.size())), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(nc), NATS_OK);
  EXPECT_TRUE(eventually([&] {
    auto s = cb_->status("counter");
    return s && s->messages_in == 3;
  }));
  EXPECT_EQ(sample(*cb_, "pdc_cluster_malformed_total{node=\"b\",peer=\"c\"}"), 5);
  EXPECT_EQ(sample(*cb_, "pdc_cluster_batches_total{node=\"b\",direction=\"in\"}"), 1);
  EXPECT_EQ(sample(*cb_, "pdc_cluster_messages_total{node=\"b\",peer=\"c\",direction=\"in\"}"), 3);
  auto s = cb_->status("counter");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->messages_in, 3U);
}

// At most once: what NATS loses while b's server is down is counted by b
// (gaps in a's sequence), never silent: what b's kernel got plus what b
// counts lost is what a sent.
TEST_F(ClusterTest, MessagesLostWhileAServerIsDownAreCountedNotSilent) {
  std::uint64_t sent = 0;
  auto send_one = [&] {
    const std::uint64_t n = ++sent;
    std::byte v[8];
    std::memcpy(v, &n, sizeof v);
    send_options o;
    o.no_reply = true;
    auto r = ca_->send("b/counter", v, o);
    ASSERT_TRUE(r) << r.err().what();
  };
  for (int i = 0; i < 1000; ++i) send_one();
  nats_.kill(1);  // b's only server
  for (int i = 0; i < 500; ++i) send_one();
  nats_.start(1);
  ASSERT_TRUE(nats_.ready(1, "b", "pw-b"));
  std::uint64_t got = 0;
  double lost = 0;
  const bool balanced = eventually(
      [&] {
        auto s = cb_->status("counter");
        got = s ? s->messages_in : 0;
        lost = sample(*cb_, "pdc_cluster_lost_total{node=\"b\",peer=\"a\"}");
        if (got + static_cast<std::uint64_t>(std::max(lost, 0.0)) == sent) return true;
        send_one();  // each arrival shows the gap before it
        return false;
      },
      std::chrono::milliseconds(60'000));
  EXPECT_TRUE(balanced) << "sent " << sent << ", b's kernel got " << got << ", b counted " << lost << " lost\n"
                        << b_->pdcd().log();
  EXPECT_GE(sample(*cb_, "pdc_cluster_reconnects_total{node=\"b\"}"), 1);
  std::printf("sent %llu, received %llu, counted lost %.0f\n", static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(got), lost);
}

// At least once: through a stream on all three servers, one of them
// killed mid-stream; every message reaches the kernel, each acknowledged
// after its handler ran, and a request's reply comes back the same way.
TEST_F(ClusterTest, AtLeastOnceMessagesAllArriveWhileAServerIsKilled) {
  auto st = cb_->status("durable");
  ASSERT_TRUE(st) << st.err().what() << b_->pdcd().log();
  EXPECT_TRUE(st->at_least_once);
  constexpr std::uint64_t k_messages = 300;
  for (std::uint64_t i = 1; i <= k_messages; ++i) {
    std::byte v[8];
    std::memcpy(v, &i, sizeof v);
    send_options o;
    o.no_reply = true;
    auto r = ca_->send("b/durable", v, o);
    ASSERT_TRUE(r) << r.err().what();
    if (i == k_messages / 2) nats_.kill(2);  // neither node's own server
  }
  std::uint64_t got = 0;
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually(
      [&] {
        auto s = cb_->status("durable");
        got = s ? s->messages_in : 0;
        return got >= k_messages;
      },
      std::chrono::milliseconds(60'000)))
      << "b's kernel got " << got << " of " << k_messages << "\n"
      << a_->pdcd().log() << b_->pdcd().log();
  const auto arrival_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_TRUE(eventually(
      [&] { return sample(*cb_, "pdc_cluster_jetstream_acked_total{node=\"b\"}") >= static_cast<double>(k_messages); },
      std::chrono::milliseconds(30'000)));
  auto count = ca_->request("b/durable", bytes("how many"), k_wait_ns);
  ASSERT_TRUE(count) << count.err().what();
  ASSERT_EQ(count->payload.size(), 8U);
  std::int64_t n = 0;
  std::memcpy(&n, count->payload.data(), sizeof n);
  EXPECT_GE(n, static_cast<std::int64_t>(k_messages) + 1);
  std::printf("at least once: %llu handled for %llu sent, count reply %lld, all arrived %lld ms after the last send\n",
              static_cast<unsigned long long>(got), static_cast<unsigned long long>(k_messages),
              static_cast<long long>(n), static_cast<long long>(arrival_ms));
}

}  // namespace
}  // namespace pdc::test

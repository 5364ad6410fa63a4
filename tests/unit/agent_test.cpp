// The agent and the kernel around it, driven deterministically on the test
// thread (tests/unit/daemon_fixture.hpp): real attachment segments, a fake
// plugin behind the real host functions, a fake daemon around them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "daemon_fixture.hpp"

namespace pdc::daemon::test {
namespace {

using agent_test = kernel_fixture;

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

TEST_F(agent_test, HandlesARequestAndAnswersIntoItsRing) {
  launch();
  auto client = attach();
  const auto id = client->send("hello");

  EXPECT_EQ(drain(), 1U);

  const auto reply = client->reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->second, "hello");
  EXPECT_EQ(reply->first.correlation_id(), id);
  EXPECT_NE(reply->first.flags() & k_envelope_flag_reply, 0);
  const auto s = sut->snapshot();
  EXPECT_EQ(s.messages_in, 1U);
  EXPECT_EQ(s.processed, 1U);
  EXPECT_EQ(s.messages_out, 1U);
}

// A client that rewrites its request while the handler runs (after the
// handler checked it, say) changes nothing the handler sees.
TEST_F(agent_test, AHandlerSeesAPrivateCopyThatTheClientCannotChange) {
  std::string before;
  std::string after;
  int tampered = 0;
  test_client* client_ptr = nullptr;
  plugin.on_message = [&](pdc_kernel_ctx*, const pdc_message& m) {
    before.assign(static_cast<const char*>(m.payload), m.payload_len);
    tampered = client_ptr->tamper("original", "tampered");
    after.assign(static_cast<const char*>(m.payload), m.payload_len);
    return PDC_OK;
  };
  launch();
  auto client = attach();
  client_ptr = client.get();
  client->send("original");

  EXPECT_EQ(drain(), 1U);

  EXPECT_EQ(tampered, 1);  // the record in the shared ring
  EXPECT_EQ(before, "original");
  EXPECT_EQ(after, "original");
}

TEST_F(agent_test, AVolatilePayloadTypeReadsTheSharedBytesInPlace) {
  std::string after;
  test_client* client_ptr = nullptr;
  plugin.volatile_payload = true;
  plugin.on_message = [&](pdc_kernel_ctx*, const pdc_message& m) {
    client_ptr->tamper("original", "tampered");
    after.assign(static_cast<const char*>(m.payload), m.payload_len);
    return PDC_OK;
  };
  launch();
  auto client = attach();
  client_ptr = client.get();
  client->send("original");

  EXPECT_EQ(drain(), 1U);

  EXPECT_EQ(after, "tampered");  // what it opted into: the client's live bytes
}

// A client can make a handler log per message: a kernel writes at most
// k_log_lines_per_second lines a second, and says how many it left out.
TEST_F(agent_test, AKernelsLogLinesAreBoundedPerSecondAndTheRestCounted) {
  launch();
  std::uint64_t suppressed = 0;
  int allowed = 0;
  for (int i = 0; i < 60; ++i) allowed += sut->take_log_line(5'000'000'000, suppressed) ? 1 : 0;

  EXPECT_EQ(allowed, static_cast<int>(kernel::k_log_lines_per_second));
  ASSERT_TRUE(sut->take_log_line(6'000'000'000, suppressed));  // the next second
  EXPECT_EQ(suppressed, 10U);
  ASSERT_TRUE(sut->take_log_line(6'000'000'001, suppressed));
  EXPECT_EQ(suppressed, 0U);
}

TEST_F(agent_test, ParksWhenIdleAndAClientCommitRingsItsDoorbell) {
  launch();
  auto client = attach();
  drain();  // adopts the attachment
  auto& a = agent_at(0);

  exec().bells[0]->mark_parked();
  ASSERT_TRUE(a.prepare_park());
  client->send("wake");  // commit sees the ring's parked mark: writes the doorbell
  EXPECT_TRUE(bell_rung());
  a.unpark();
  exec().bells[0]->clear_parked();

  EXPECT_EQ(drain(), 1U);
  EXPECT_TRUE(client->reply());
}

// Each attachment has a wake-up descriptor of its own: a client that
// drains it, makes it blocking or fills its counter harms nobody else, and
// the worker never reads it (edge-triggered), so it cannot block on it.
TEST_F(agent_test, AClientsWakeUpDescriptorIsItsOwnAndNeverBlocksTheWorker) {
  launch();
  auto hostile = attach(7);
  auto honest = attach(8);
  drain();
  const int fd = hostile->wake_fd();
  ASSERT_NE(fd, honest->wake_fd());
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);  // blocking now
  const std::uint64_t almost_full = 0xfffffffffffffffeULL;
  ASSERT_EQ(::write(fd, &almost_full, sizeof almost_full), 8);

  EXPECT_TRUE(bell_rung());   // one wake-up for that write
  EXPECT_FALSE(bell_rung());  // and no more: the worker left the counter alone

  exec().bells[0]->mark_parked();
  ASSERT_TRUE(agent_at(0).prepare_park());
  honest->send("still served");
  std::uint64_t stolen = 0;
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  EXPECT_EQ(::read(fd, &stolen, sizeof stolen), 8);  // the hostile client drains only its own
  EXPECT_EQ(::read(fd, &stolen, sizeof stolen), -1);
  EXPECT_TRUE(bell_rung());  // the honest commit rang the worker anyway
  agent_at(0).unpark();
  exec().bells[0]->clear_parked();
  EXPECT_EQ(drain(), 1U);
  EXPECT_EQ(honest->reply()->second, "still served");
}

TEST_F(agent_test, DoesNotParkWhenWorkArrivedBeforeTheLastLook) {
  launch();
  auto client = attach();
  drain();
  client->send("early");

  exec().bells[0]->mark_parked();
  EXPECT_FALSE(agent_at(0).prepare_park());
  exec().bells[0]->clear_parked();
  EXPECT_EQ(drain(), 1U);
}

TEST_F(agent_test, ParksBehindAClosedGateWithMessagesWaitingAndActivateWakesIt) {
  launch();
  auto client = attach();
  drain();
  ASSERT_TRUE(sut->deactivate());
  client->send("queued");
  EXPECT_EQ(drain(), 0U);  // the gate holds it

  exec().bells[0]->mark_parked();
  ASSERT_TRUE(agent_at(0).prepare_park());  // a waiting message is no work while the gate is closed
  ASSERT_TRUE(sut->activate());             // state store, then the doorbell
  EXPECT_TRUE(bell_rung());
  agent_at(0).unpark();
  exec().bells[0]->clear_parked();

  EXPECT_EQ(drain(), 1U);
  EXPECT_EQ(client->reply()->second, "queued");
}

TEST_F(agent_test, ServesDropOldestWhileTheGateIsClosed) {
  launch(1, backpressure_policy::drop_oldest);
  auto client = attach();
  drain();
  ASSERT_TRUE(sut->deactivate());
  const auto oldest = client->send("one");
  client->send("two");
  client->view().request_shed();

  EXPECT_EQ(drain(), 1U);  // the shed, behind the closed gate

  const auto error = client->reply();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->first.correlation_id(), oldest);
  EXPECT_NE(error->first.flags() & k_envelope_flag_error, 0);
  EXPECT_EQ(error->second, "dropped: message dropped by kernel 'k' (drop_oldest: queue full)");
  EXPECT_EQ(sut->snapshot().dropped, 1U);
  ASSERT_TRUE(sut->activate());
  EXPECT_EQ(drain(), 1U);
  EXPECT_EQ(client->reply()->second, "two");
}

TEST_F(agent_test, AShedCountThatMovesBackOrJumpsCostsBoundedWork) {
  launch(1, backpressure_policy::drop_oldest);
  auto client = attach();
  drain();
  auto* ctl = reinterpret_cast<attachment_control*>(client->view().seg().aux().data());

  ctl->shed_requests.store(5, std::memory_order_relaxed);
  client->send("kept");
  ctl->shed_requests.store(UINT64_MAX - 3, std::memory_order_relaxed);  // a hostile jump
  EXPECT_LE(drain(), 2U);                                               // one record at most, and the new message
  ctl->shed_requests.store(1, std::memory_order_relaxed);               // back: asks for nothing
  EXPECT_EQ(drain(), 0U);

  exec().bells[0]->mark_parked();
  EXPECT_TRUE(agent_at(0).prepare_park());  // not spinning on a count it already took
  agent_at(0).unpark();
}

TEST_F(agent_test, TakesAtMostARingBatchFromEachAttachmentPerTurn) {
  launch();
  auto a = attach(1);
  auto b = attach(2);
  drain();
  for (int i = 0; i < 100; ++i) {
    a->send("a", 0, false);
    b->send("b", 0, false);
  }
  a->view().requests().commit();
  b->view().requests().commit();

  EXPECT_EQ(agent_at(0).do_work(2 * agent::k_ring_batch), 2 * agent::k_ring_batch);
  std::size_t from_a = 0;
  std::size_t from_b = 0;
  while (a->reply()) ++from_a;
  while (b->reply()) ++from_b;
  EXPECT_EQ(from_a, agent::k_ring_batch);
  EXPECT_EQ(from_b, agent::k_ring_batch);
}

TEST_F(agent_test, MalformedRecordIsCountedAndRefusedAndTheRingGoesOn) {
  int calls = 0;
  plugin.on_message = [&](pdc_kernel_ctx* ctx, const pdc_message& m) {
    ++calls;
    return echo_handler(ctx, m);
  };
  launch();
  auto client = attach();
  std::vector<std::byte> lying(sizeof(envelope) + 4);
  const envelope env = make_envelope(1, 400, now_ns());  // declares 400 bytes, carries 4
  std::memcpy(lying.data(), &env, sizeof env);
  client->send_raw(lying);
  client->send("fine");

  drain();

  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client->reply()->second, "fine");
  const auto s = sut->snapshot();
  EXPECT_EQ(s.malformed, 1U);
  EXPECT_EQ(s.handler_errors, 0U);
  EXPECT_NE(s.last_error.find("envelope does not match its length"), std::string::npos) << s.last_error;
  EXPECT_TRUE(host.logged("logged once per attachment"));
}

TEST_F(agent_test, CorruptRingDetachesThatAttachmentAlone) {
  launch();
  auto bad = attach(1);
  auto good = attach(2);
  drain();
  // A record header no producer writes: tag garbage.
  auto& ctl = *bad->view().seg().control(k_attachment_request_ring);
  auto* data = reinterpret_cast<std::byte*>(&ctl) + sizeof(ring_control);
  const record_header garbage{8, 0xdeadbeef};
  std::memcpy(data, &garbage, sizeof garbage);
  ctl.write_pos.store(16, std::memory_order_release);
  good->send("still served");

  drain();
  host.run_posted();

  EXPECT_EQ(good->reply()->second, "still served");
  EXPECT_TRUE(bad->view().requests().consumer_closed());
  EXPECT_TRUE(host.logged("wrote a corrupt record; detaching it"));
  EXPECT_EQ(sut->attachment_count(), 1U);
}

TEST_F(agent_test, AProducerIndexOutsideTheRingIsCorruption) {
  launch();
  auto bad = attach(1);
  drain();
  auto& ctl = *bad->view().seg().control(k_attachment_request_ring);
  ctl.write_pos.store(UINT64_MAX - 7, std::memory_order_release);  // "behind" the read index

  EXPECT_EQ(drain(), 0U);
  EXPECT_TRUE(agent_at(0).has_work());  // letting go of it: the runner does not park
  agent_at(0).do_work(1);
  host.run_posted();

  EXPECT_TRUE(bad->view().requests().consumer_closed());
  EXPECT_EQ(sut->attachment_count(), 0U);
}

TEST_F(agent_test, HandlerFailureAnswersTheWaitingSender) {
  plugin.on_message = [](pdc_kernel_ctx*, const pdc_message&) { return PDC_E_PLUGIN; };
  launch();
  auto client = attach();
  const auto id = client->send("x");

  drain();

  const auto reply = client->reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->first.correlation_id(), id);
  EXPECT_NE(reply->first.flags() & k_envelope_flag_error, 0);
  EXPECT_EQ(reply->second.rfind("plugin_error: handler of kernel 'k' failed", 0), 0U) << reply->second;
  EXPECT_EQ(sut->snapshot().handler_errors, 1U);
}

TEST_F(agent_test, ReplyToAnAttachmentThatLeftIsADeadLetterForTheSubscribers) {
  std::vector<pdc_message> kept;
  plugin.on_message = [&](pdc_kernel_ctx* ctx, const pdc_message& m) {
    if (kept.empty()) {
      kept.push_back(m);  // answered later
      return PDC_OK;
    }
    return host_api_table()->reply(ctx, &kept.front(), "late", 4, 0);
  };
  launch();
  auto leaving = attach(1);
  auto other = attach(2);
  sut->outs().subscribe(9);
  leaving->send("remember me");
  drain();
  sut->detach(leaving->id());

  other->send("now answer it");
  drain();

  const auto s = sut->snapshot();
  EXPECT_EQ(s.dead_letters, 1U);
  EXPECT_EQ(s.handler_errors, 0U);
  ASSERT_EQ(host.deliveries.size(), 1U);
  EXPECT_EQ(host.deliveries[0].session_id, 9U);
  EXPECT_EQ(host.deliveries[0].what, delivery::output);
  EXPECT_EQ(host.deliveries[0].text(), "late");
}

TEST_F(agent_test, ASenderThatWantsNoReplyGetsNoneAndTheAnswerIsAnOutput) {
  launch();
  auto client = attach();
  sut->outs().subscribe(5);
  client->send("fire and forget", k_envelope_flag_no_reply);

  drain();

  EXPECT_FALSE(client->reply());
  ASSERT_EQ(host.deliveries.size(), 1U);
  EXPECT_EQ(host.deliveries[0].session_id, 5U);
  EXPECT_EQ(host.deliveries[0].text(), "fire and forget");
  EXPECT_EQ(sut->snapshot().dead_letters, 0U);
}

TEST_F(agent_test, SendToReturnsTheRoutesOutcome) {
  int unknown = 1;
  int known = 1;
  plugin.on_message = [&](pdc_kernel_ctx* ctx, const pdc_message&) {
    unknown = host_api_table()->send_to(ctx, "nobody", "x", 1, 0);
    known = host_api_table()->send_to(ctx, "next", "y", 1, 0);
    return PDC_OK;
  };
  launch();
  auto client = attach();
  client->send("go");

  drain();

  EXPECT_EQ(unknown, PDC_E_NOT_FOUND);
  EXPECT_EQ(known, PDC_OK);
  ASSERT_EQ(host.routes.size(), 1U);
  EXPECT_EQ(host.routes[0].to_kernel, "next");
}

TEST_F(agent_test, InboxMessagesAreAnsweredThroughTheHostAndAGoneSenderIsADeadLetter) {
  launch();
  queued_message m{make_envelope(41, 2, now_ns()), bytes_of("hi"), reply_address::session(3), 0};
  ASSERT_EQ(sut->offer(m), offer_result::accepted);
  host.session_outcome = errc::peer_gone;

  drain();

  ASSERT_EQ(host.deliveries.size(), 1U);
  EXPECT_EQ(host.deliveries[0].session_id, 3U);
  EXPECT_EQ(host.deliveries[0].env.correlation_id(), 41U);
  const auto s = sut->snapshot();
  EXPECT_EQ(s.dead_letters, 1U);
  EXPECT_EQ(s.messages_out, 0U);
  EXPECT_EQ(s.handler_errors, 0U);
}

TEST_F(agent_test, OnlyTheFirstAgentServesTheInbox) {
  launch(2);
  queued_message m{make_envelope(1, 2, now_ns()), bytes_of("hi"), reply_address::session(3), 0};
  ASSERT_EQ(sut->offer(m), offer_result::accepted);

  EXPECT_EQ(drain(1), 0U);
  EXPECT_EQ(drain(0), 1U);
}

TEST_F(agent_test, TerminateDrainsWhatWaitsThenClosesEveryAttachment) {
  launch();
  auto client = attach();
  for (int i = 0; i < 5; ++i) client->send("m");
  bool done = false;

  sut->terminate(false, 5'000'000'000, [&](const result<void>& r) { done = r.has_value(); });
  EXPECT_EQ(sut->state(), kernel_state::terminating);
  EXPECT_FALSE(agent_at(0).finished());
  EXPECT_EQ(drain(), 5U);
  EXPECT_TRUE(agent_at(0).finished());
  ASSERT_TRUE(exec().on_stopped);
  exec().on_stopped();  // what the executor posts once its agents finished

  EXPECT_TRUE(done);
  EXPECT_EQ(sut->state(), kernel_state::terminated);
  EXPECT_EQ(plugin.destroyed, 1);
  int replies = 0;
  while (client->reply()) ++replies;
  EXPECT_EQ(replies, 5);
  EXPECT_EQ(client->view().replies().producer_close_reason(), static_cast<std::uint32_t>(errc::terminated));
}

TEST_F(agent_test, TerminateWithDropHandlesNothingMore) {
  launch();
  auto client = attach();
  drain();
  for (int i = 0; i < 5; ++i) client->send("m");

  sut->terminate(true, 0, [](const result<void>&) {});

  EXPECT_EQ(drain(), 0U);
  EXPECT_TRUE(agent_at(0).finished());
  exec().on_stopped();
  EXPECT_FALSE(client->reply());
  EXPECT_EQ(sut->snapshot().processed, 0U);
}

TEST_F(agent_test, TerminateAnswersWhatIsLeftInTheInbox) {
  launch();
  ASSERT_TRUE(sut->deactivate());
  for (std::uint64_t i = 1; i <= 3; ++i) {
    queued_message m{make_envelope(i, 1, now_ns()), bytes_of("q"), reply_address::session(4), 0};
    ASSERT_EQ(sut->offer(m), offer_result::accepted);
  }

  sut->terminate(true, 0, [](const result<void>&) {});
  exec().on_stopped();

  ASSERT_EQ(host.deliveries.size(), 3U);
  for (const auto& d : host.deliveries) {
    EXPECT_EQ(d.what, delivery::error);
    EXPECT_EQ(d.text(), "terminated: kernel 'k' terminated before processing the message");
  }
  EXPECT_EQ(sut->snapshot().dropped, 3U);
  queued_message late{make_envelope(9, 1, now_ns()), bytes_of("late"), reply_address::session(4), 0};
  EXPECT_EQ(sut->offer(late), offer_result::closed);
}

TEST_F(agent_test, TheDrainTimeHaltsAKernelThatKeepsGettingWork) {
  launch();
  auto client = attach();
  drain();
  client->send("m");
  sut->terminate(false, 1'000'000, [](const result<void>&) {});
  EXPECT_FALSE(agent_at(0).finished());

  host.fire_timers();  // the drain time is over

  EXPECT_TRUE(sut->halted());
  EXPECT_TRUE(agent_at(0).finished());
  EXPECT_TRUE(host.logged("drain time is over"));
}

TEST_F(agent_test, AnIllegalTerminateIsRefusedAtOnce) {
  launch();
  sut->terminate(true, 0, [](const result<void>&) {});
  error refused;
  sut->terminate(true, 0, [&](const result<void>& r) {
    if (!r) refused = r.err();
  });
  EXPECT_EQ(refused.code, errc::illegal_state);
  EXPECT_EQ(refused.message, "cannot terminate kernel 'k': it is terminating");
}

TEST_F(agent_test, LoopStyleReceivesServesShedsAndRefusesMalformedRecordsToo) {
  std::vector<std::string> got;
  plugin.run = [&](pdc_kernel_ctx* ctx) {
    for (;;) {
      pdc_message m{};
      const int rc = host_api_table()->receive(ctx, &m, 0);
      if (rc != PDC_OK) return rc == PDC_E_TIMEOUT ? PDC_OK : rc;
      got.emplace_back(static_cast<const char*>(m.payload), m.payload_len);
      host_api_table()->reply(ctx, &m, m.payload, m.payload_len, 0);
    }
  };
  launch(1, backpressure_policy::drop_oldest, true);
  auto client = attach();
  drain();
  std::vector<std::byte> lying(sizeof(envelope));
  const envelope env = make_envelope(1, 99, now_ns());
  std::memcpy(lying.data(), &env, sizeof env);
  client->send("shed me");
  client->view().request_shed();
  client->send_raw(lying);
  client->send("keep me");

  agent_at(0).run_loop();

  EXPECT_EQ(got, std::vector<std::string>{"keep me"});
  const auto s = sut->snapshot();
  EXPECT_EQ(s.malformed, 1U);
  EXPECT_EQ(s.dropped, 1U);
  EXPECT_EQ(s.processed, 1U);
  EXPECT_EQ(client->reply()->second, "dropped: message dropped by kernel 'k' (drop_oldest: queue full)");
  EXPECT_EQ(client->reply()->second, "keep me");
}

// A client's view of its reply ring, checked from inside the next handler.
class reply_visibility : public agent_test {
 protected:
  void run_two_requests() {
    plugin.on_message = [&](pdc_kernel_ctx* ctx, const pdc_message& m) {
      if (m.message_id == 2) first_visible_during_second = client->view().replies().has_data();
      return echo_handler(ctx, m);
    };
    launch();
    client = attach();
    client->send("one", 0, false);
    client->send("two", 0, false);
    client->view().requests().commit();
    drain();
  }
  std::unique_ptr<test_client> client;
  bool first_visible_during_second = false;
};

TEST_F(reply_visibility, ANonBlockingKernelPublishesABatchOfRepliesWithOneCommit) {
  run_two_requests();

  EXPECT_FALSE(first_visible_during_second);
  EXPECT_EQ(client->reply()->second, "one");  // both out once the ring's batch is done
  EXPECT_EQ(client->reply()->second, "two");
}

TEST_F(reply_visibility, AKernelThatMayBlockPublishesEachReplyAtOnce) {
  plugin.may_block = true;
  run_two_requests();

  EXPECT_TRUE(first_visible_during_second);
  EXPECT_EQ(client->reply()->second, "one");
  EXPECT_EQ(client->reply()->second, "two");
}

TEST_F(agent_test, RecordsOneQueueWaitPerMessageAndProcessingPerBatch) {
  launch();
  auto client = attach();
  drain();
  for (int i = 0; i < 10; ++i) client->send("m", 0, false);
  client->view().requests().commit();

  drain();

  const auto s = sut->snapshot();
  EXPECT_EQ(s.queue_wait.count(), 10U);
  EXPECT_EQ(s.processing.count(), 10U);
}

TEST_F(agent_test, RepliesOfDifferentAgentsCarryDistinctMessageIds) {
  launch(2);
  auto a = attach(1);  // attachments spread over the agents by id
  auto b = attach(2);
  for (std::size_t i = 0; i < 2; ++i) drain(i);
  a->send("x");
  b->send("y");
  for (std::size_t i = 0; i < 2; ++i) drain(i);

  const auto ra = a->reply();
  const auto rb = b->reply();
  ASSERT_TRUE(ra && rb);
  EXPECT_NE(ra->first.message_id(), rb->first.message_id());
}

}  // namespace
}  // namespace pdc::daemon::test

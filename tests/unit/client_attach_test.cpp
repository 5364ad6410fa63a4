// pdc::attachment and its C ABI against a scripted daemon that also plays the
// kernel's side of the rings: a real sealed segment, a real doorbell eventfd,
// descriptors passed with SCM_RIGHTS as pdcd passes them.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client_fake_daemon.hpp"
#include "pdc/client.hpp"
#include "pdc/core/attachment.hpp"
#include "pdc/pdc.h"
#include "test_support.hpp"

namespace pdc {
namespace {

using namespace std::chrono_literals;
using test::as_payload;
using test::as_text;
using test::fake_daemon;
using test::script_thread;
using test::wait_until;

constexpr std::int64_t k_test_timeout_ns = 5'000'000'000;
constexpr std::uint64_t k_attachment_id = 77;
// The largest record both rings take.
attachment_geometry geometry_of(std::uint64_t request_ring_bytes, std::uint64_t reply_ring_bytes) {
  const auto smaller = std::min(request_ring_bytes, reply_ring_bytes);
  return {request_ring_bytes, reply_ring_bytes, static_cast<std::uint32_t>(smaller / 2 - sizeof(record_header))};
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

int new_eventfd() {
  return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

// The kernel's side of one attachment as pdcd holds it: the daemon's view of
// a real attachment segment, and the kernel's doorbell. Its loop runs on its
// own thread and parks on the doorbell the way an event-loop kernel does.
class fake_kernel {
 public:
  using handler = std::function<void(fake_kernel&, const envelope&, std::span<const std::byte>)>;

  explicit fake_kernel(std::uint64_t request_ring_bytes = 1 << 16, std::uint64_t reply_ring_bytes = 1 << 16) {
    auto created = attachment_daemon_view::create("pdc-attach-test", geometry_of(request_ring_bytes, reply_ring_bytes),
                                                  k_attachment_id);
    if (!created) ADD_FAILURE() << created.err().what();
    view_.emplace(std::move(created).value());
    doorbell_ = new_eventfd();
  }
  ~fake_kernel() {
    stop();
    ::close(doorbell_);
  }
  fake_kernel(const fake_kernel&) = delete;
  fake_kernel& operator=(const fake_kernel&) = delete;

  [[nodiscard]] int segment_fd() const { return view_->seg().fd(); }
  [[nodiscard]] int doorbell_fd() const { return doorbell_; }
  [[nodiscard]] std::uint64_t segment_bytes() const { return view_->seg().size_bytes(); }
  [[nodiscard]] ring_control& request_control() const { return *view_->seg().control(k_attachment_request_ring); }
  [[nodiscard]] ring_control& reply_control() const { return *view_->seg().control(k_attachment_reply_ring); }
  [[nodiscard]] attachment_daemon_view& view() { return *view_; }

  /// Runs the kernel loop once `ready()` holds (if given), handing each request to `on_request`.
  void start(handler on_request, std::function<bool()> ready = {}) {
    thread_ = std::thread([this, on_request = std::move(on_request), ready = std::move(ready)] {
      if (ready && !wait_until(ready, 10s)) ADD_FAILURE() << "fake kernel: start condition never held";
      run(on_request);
    });
  }

  void stop() {
    stop_.store(true);
    const std::uint64_t one = 1;
    (void)::write(doorbell_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
  }

  /// Writes one message into the reply ring (kernel thread, or before start).
  void write_reply(std::uint64_t message_id, std::uint64_t correlation_id, std::string_view payload,
                   std::uint16_t flags) {
    const std::size_t record_bytes = sizeof(envelope) + payload.size();
    if (view_->replies().wait_for_space(record_bytes, idle_strategy::spin_park(5'000),
                                        deadline::after_ns(k_test_timeout_ns)) != errc::ok) {
      ADD_FAILURE() << "fake kernel: the client never made room in the reply ring";
      return;
    }
    auto slot = view_->replies().try_reserve(record_bytes);
    const envelope env = make_envelope(message_id, static_cast<std::uint32_t>(payload.size()), now_ns(), correlation_id,
                                       k_attachment_id, 0, flags);
    std::memcpy(slot.bytes.data(), &env, sizeof env);
    std::memcpy(slot.bytes.data() + sizeof env, payload.data(), payload.size());
    view_->replies().commit();
  }

  /// Answers `request` with `payload` (an error reply when `is_error`).
  void reply(const envelope& request, std::string_view payload, bool is_error = false) {
    const auto flags = static_cast<std::uint16_t>(k_envelope_flag_reply | (is_error ? k_envelope_flag_error : 0U));
    write_reply(1000 + request.message_id(), request.message_id(), payload, flags);
  }

  /// Closes the reply ring as pdcd does when the kernel ends (`reason`: an errc value, or 1).
  void close_replies(std::uint32_t reason) { view_->replies().close(reason); }

  /// Requests handled so far, in order.
  std::vector<envelope> seen() {
    const std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t handled() { return seen().size(); }

 private:
  void run(const handler& on_request) {
    while (!stop_.load()) {
      const auto slot = view_->requests().try_peek();
      if (slot) {
        envelope env;
        if (!read_envelope(slot.bytes, env)) ADD_FAILURE() << "fake kernel: malformed request record";
        {
          const std::lock_guard lock(mutex_);
          seen_.push_back(env);
        }
        on_request(*this, env, payload_of(slot.bytes));
        view_->requests().release();
        view_->requests().flush_release();
        continue;
      }
      if (!view_->requests().prepare_park()) continue;
      pollfd p{doorbell_, POLLIN, 0};
      (void)::poll(&p, 1, 100);
      std::uint64_t count = 0;
      (void)::read(doorbell_, &count, sizeof count);
      view_->requests().unpark();
    }
  }

  std::optional<attachment_daemon_view> view_;
  int doorbell_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<envelope> seen_;
  std::thread thread_;
};

void echo(fake_kernel& kernel, const envelope& env, std::span<const std::byte> payload) {
  kernel.reply(env, "re:" + as_text(payload));
}

void swallow(fake_kernel&, const envelope&, std::span<const std::byte>) {}

// Reads an Attach for kernel "k" and answers it with the kernel's segment and doorbell.
void answer_attach(fake_daemon& daemon, const fake_kernel& kernel, std::uint32_t max_message_bytes = 0) {
  const auto* request = daemon.next_request();
  ASSERT_NE(request, nullptr);
  const auto* attach = request->body_as_Attach();
  ASSERT_NE(attach, nullptr);
  EXPECT_EQ(attach->kernel_id()->str(), "k");
  flatbuffers::FlatBufferBuilder fbb;
  wire::AttachReplyBuilder ab(fbb);
  ab.add_attachment_id(k_attachment_id);
  ab.add_segment_bytes(kernel.segment_bytes());
  ab.add_max_message_bytes(max_message_bytes);
  const auto body = ab.Finish();
  const int fds[] = {kernel.segment_fd(), kernel.doorbell_fd()};
  daemon.respond(request->id(), fbb, wire::ResponseBody::AttachReply, body.Union(), errc::ok, {}, fds);
}

// Reads a Detach and answers it; returns the attachment id it names (0 if none came).
std::uint64_t answer_detach(fake_daemon& daemon) {
  const auto* request = daemon.next_request();
  if (request == nullptr || request->body_as_Detach() == nullptr) {
    ADD_FAILURE() << "fake pdcd: expected Detach";
    return 0;
  }
  const std::uint64_t id = request->body_as_Detach()->attachment_id();
  daemon.respond(request->id());
  return id;
}

client adopt_client(fake_daemon& daemon) {
  auto r = client::adopt(daemon.release_client_fd(), "attach-test");
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.err().what());
  auto c = std::move(r).value();
  c.set_call_timeout_ns(k_test_timeout_ns);
  return c;
}

// A client attached to kernel "k" of a fake daemon; the daemon's script may go
// on (on its own thread) after answering the Attach.
class ClientAttach : public ::testing::Test {
 protected:
  explicit ClientAttach(std::uint64_t request_ring_bytes = 1 << 16) : kernel_(request_ring_bytes) {}

  void attach(attach_options options = {}, std::function<void()> then_script = {}, std::uint32_t max_bytes = 0) {
    script_ = std::make_unique<script_thread>([this, then_script = std::move(then_script), max_bytes] {
      daemon_.answer_hello();
      answer_attach(daemon_, kernel_, max_bytes);
      if (then_script) then_script();
    });
    client_.emplace(adopt_client(daemon_));
    auto a = client_->attach("k", options);
    ASSERT_TRUE(a.has_value()) << a.err().what();
    sut_ = std::move(a).value();
  }

  // Sends `payload_bytes`-byte messages until the ring refuses one; returns how many fit.
  std::size_t fill_request_ring(std::size_t payload_bytes) {
    const std::string payload(payload_bytes, 'x');
    std::size_t sent = 0;
    for (;; ++sent) {
      const auto r = sut_.send(as_payload(payload));
      if (!r) {
        EXPECT_EQ(r.code(), errc::full) << r.err().what();
        return sent;
      }
    }
  }

  // True once the client parked waiting for a reply (it spins first).
  bool client_parked_on_replies() const {
    return kernel_.reply_control().consumer_parked.load(std::memory_order_acquire) != 0;
  }

  fake_daemon daemon_;
  fake_kernel kernel_;
  std::optional<client> client_;
  attachment sut_;
  std::unique_ptr<script_thread> script_;
};

class ClientAttachSmallRing : public ClientAttach {
 protected:
  ClientAttachSmallRing() : ClientAttach(4096) {}
};

// ---- attaching ---------------------------------------------------------------------

TEST_F(ClientAttach, AttachGivesTheDaemonsIdAndMessageLimit) {
  attach({}, {}, 1000);

  EXPECT_TRUE(sut_.attached());
  EXPECT_EQ(sut_.id(), k_attachment_id);
  EXPECT_EQ(sut_.kernel_id(), "k");
  EXPECT_EQ(sut_.max_message_bytes(), 1000U);
}

TEST_F(ClientAttach, LimitIsCappedByTheRing) {
  attach({}, {}, 1 << 20);

  EXPECT_EQ(sut_.max_message_bytes(), (1U << 15) - sizeof(record_header) - sizeof(envelope));
}

TEST_F(ClientAttach, AttachSendsKernelIdAndRingSizes) {
  std::uint32_t request_bytes = 0;
  std::uint32_t reply_bytes = 0;
  script_thread script([&] {
    daemon_.answer_hello();
    const auto* request = daemon_.next_request();
    ASSERT_NE(request, nullptr);
    ASSERT_NE(request->body_as_Attach(), nullptr);
    request_bytes = request->body_as_Attach()->request_ring_bytes();
    reply_bytes = request->body_as_Attach()->reply_ring_bytes();
    daemon_.respond(request->id(), errc::not_found, "no kernel 'k'");
  });
  auto c = adopt_client(daemon_);

  auto r = c.attach("k", attach_options{.request_ring_bytes = 8192, .reply_ring_bytes = 16384});
  script.join();

  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.code(), errc::not_found);
  EXPECT_EQ(request_bytes, 8192U);
  EXPECT_EQ(reply_bytes, 16384U);
}

TEST(ClientAttachFds, DescriptorsWithOtherFramesAreClosed) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    // Six do not fit the client's control buffer: the packet arrives with MSG_CTRUNC.
    for (const std::size_t passed : {std::size_t{2}, std::size_t{6}}) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      std::vector<int> fds;
      for (std::size_t i = 0; i < passed; ++i) fds.push_back(new_eventfd());
      flatbuffers::FlatBufferBuilder fbb;
      daemon.respond(request->id(), fbb, wire::ResponseBody::NONE, 0, errc::ok, {}, fds);
      for (const int fd : fds) ::close(fd);
    }
  });
  auto c = adopt_client(daemon);
  const std::size_t before = open_fd_count();

  const auto first = c.activate("k");
  const auto second = c.deactivate("k");
  script.join();

  EXPECT_TRUE(first.has_value());
  EXPECT_TRUE(second.has_value());
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ClientAttachFds, AttachReplyWithTooFewDescriptorsIsProtocolError) {
  fake_daemon daemon;
  std::uint64_t detached = 0;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const int fd = new_eventfd();
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = wire::CreateAttachReply(fbb, k_attachment_id, 4096);
    daemon.respond(request->id(), fbb, wire::ResponseBody::AttachReply, body.Union(), errc::ok, {}, std::span(&fd, 1));
    ::close(fd);
    detached = answer_detach(daemon);
  });
  auto c = adopt_client(daemon);
  const std::size_t before = open_fd_count();

  auto sut = c.attach("k");
  script.join();

  ASSERT_FALSE(sut.has_value());
  EXPECT_EQ(sut.code(), errc::protocol_error);
  EXPECT_EQ(sut.err().message,
            "pdcd's AttachReply carried 1 file descriptors instead of 3 (segment, doorbell, wake-up socket)");
  EXPECT_EQ(detached, k_attachment_id);
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_TRUE(c.connected());
}

TEST(ClientAttachFds, ForeignSegmentIsRefused) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const int fds[] = {new_eventfd(), new_eventfd()};
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = wire::CreateAttachReply(fbb, k_attachment_id);
    daemon.respond(request->id(), fbb, wire::ResponseBody::AttachReply, body.Union(), errc::ok, {}, fds);
    for (const int fd : fds) ::close(fd);
    answer_detach(daemon);
  });
  auto c = adopt_client(daemon);
  const std::size_t before = open_fd_count();

  auto sut = c.attach("k");
  script.join();

  ASSERT_FALSE(sut.has_value());
  EXPECT_EQ(sut.code(), errc::corrupt_segment);
  EXPECT_EQ(open_fd_count(), before);
}

// ---- messages ---------------------------------------------------------------------

TEST_F(ClientAttach, RequestGetsTheKernelsReply) {
  kernel_.start(echo);
  attach();

  auto reply = sut_.request(as_payload("hello"), k_test_timeout_ns, send_options{.type_id = 3});

  ASSERT_TRUE(reply.has_value()) << reply.err().what();
  EXPECT_EQ(as_text(reply->payload), "re:hello");
  EXPECT_TRUE(reply->is_reply());
  EXPECT_EQ(reply->env.correlation_id(), 1U);
  EXPECT_EQ(reply->kernel_id, "k");
  const auto seen = kernel_.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].message_id(), 1U);
  EXPECT_EQ(seen[0].reply_to(), k_attachment_id);
  EXPECT_EQ(seen[0].type_id(), 3U);
  EXPECT_EQ(seen[0].payload_length(), 5U);
}

TEST_F(ClientAttach, ManyRequestsInARowEachGetTheirReply) {
  kernel_.start(echo);
  attach();

  for (int i = 0; i < static_cast<int>(test::scaled(2000)); ++i) {
    const std::string text = "n" + std::to_string(i);
    auto reply = sut_.request(as_payload(text), k_test_timeout_ns);
    ASSERT_TRUE(reply.has_value()) << reply.err().what();
    ASSERT_EQ(as_text(reply->payload), "re:" + text);
  }
}

TEST_F(ClientAttach, BatchedSendPublishesManyMessagesInOrderWithOneCommit) {
  kernel_.start(echo);
  attach();
  constexpr int k_messages = 500;

  for (int i = 0; i < k_messages; ++i) {
    const std::string text = "m" + std::to_string(i);
    auto slot = sut_.begin_send(text.size());
    ASSERT_TRUE(slot.has_value()) << slot.err().what();
    ASSERT_EQ(slot->message_id, static_cast<std::uint64_t>(i + 1));
    std::memcpy(slot->payload.data(), text.data(), text.size());
  }
  const auto published_before_flush = kernel_.request_control().write_pos.load();
  sut_.flush();

  EXPECT_EQ(published_before_flush, 0U);
  for (int i = 0; i < k_messages; ++i) {
    auto m = sut_.receive(k_test_timeout_ns);
    ASSERT_TRUE(m.has_value()) << m.err().what();
    ASSERT_EQ(as_text(m->payload), "re:m" + std::to_string(i));
    ASSERT_EQ(m->env.correlation_id(), static_cast<std::uint64_t>(i + 1));
  }
}

TEST_F(ClientAttach, RefusesPayloadAboveLimitAndSendsNothing) {
  attach({}, {}, 100);

  const auto refused = sut_.send(as_payload(std::string(101, 'x')));
  const auto reserved = sut_.begin_send(101);

  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.code(), errc::message_too_large);
  EXPECT_EQ(refused.err().message,
            "payload of 101 bytes exceeds the attachment's limit of 100 bytes; nothing was sent");
  EXPECT_EQ(reserved.code(), errc::message_too_large);
  EXPECT_EQ(kernel_.request_control().write_pos.load(), 0U);
  EXPECT_TRUE(sut_.send(as_payload(std::string(100, 'x'))).has_value());
}

TEST_F(ClientAttach, RequestSetsOtherMessagesAsideForReceive) {
  kernel_.start([](fake_kernel& k, const envelope& env, std::span<const std::byte>) {
    k.write_reply(500, 0, "unrelated", 0);
    k.reply(env, "mine");
  });
  attach();

  auto reply = sut_.request(as_payload("ping"), k_test_timeout_ns);

  ASSERT_TRUE(reply.has_value()) << reply.err().what();
  EXPECT_EQ(as_text(reply->payload), "mine");
  EXPECT_EQ(sut_.buffered_messages(), 1U);
  auto other = sut_.receive(0);
  ASSERT_TRUE(other.has_value()) << other.err().what();
  EXPECT_EQ(as_text(other->payload), "unrelated");
  EXPECT_FALSE(other->is_reply());
}

TEST_F(ClientAttach, PeekLendsASetAsideMessageAndRefusesRequestsUntilRelease) {
  kernel_.start([](fake_kernel& k, const envelope& env, std::span<const std::byte>) {
    k.write_reply(500, 0, "unrelated", 0);
    k.reply(env, "mine");
  });
  attach();
  ASSERT_TRUE(sut_.request(as_payload("ping"), k_test_timeout_ns).has_value());

  auto peeked = sut_.peek(0);
  ASSERT_TRUE(peeked.has_value()) << peeked.err().what();
  const std::string text = as_text(peeked->payload);
  const auto request_meanwhile = sut_.request(as_payload("again"), 0);
  const auto receive_meanwhile = sut_.receive(0);
  sut_.release();

  EXPECT_EQ(text, "unrelated");
  EXPECT_EQ(peeked->env.message_id(), 500U);
  EXPECT_EQ(request_meanwhile.code(), errc::illegal_state);
  EXPECT_EQ(receive_meanwhile.code(), errc::illegal_state);
  EXPECT_EQ(sut_.buffered_messages(), 0U);
  EXPECT_EQ(sut_.peek(0).code(), errc::timeout);
}

TEST_F(ClientAttach, ErrorReplyBecomesTheNamedError) {
  kernel_.start([](fake_kernel& k, const envelope& env, std::span<const std::byte>) {
    k.reply(env, "not_found: no such account", true);
  });
  attach();

  auto reply = sut_.request(as_payload("lookup"), k_test_timeout_ns);

  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.code(), errc::not_found);
  EXPECT_EQ(reply.err().message, "not_found: no such account");
}

TEST_F(ClientAttach, ReceiveTimesOutWhenNothingComes) {
  attach();

  const auto at_once = sut_.receive(0);
  const auto later = sut_.receive(20'000'000);

  EXPECT_EQ(at_once.code(), errc::timeout);
  EXPECT_EQ(later.code(), errc::timeout);
  EXPECT_EQ(later.err().message, "no message within 20 ms");
}

TEST_F(ClientAttach, PollHandsOutMessagesInPlaceUpToTheLimit) {
  kernel_.start(echo);
  attach();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sut_.send(as_payload("p" + std::to_string(i))).has_value());
  std::vector<std::string> got;
  const auto collect = [&](const envelope& env, std::span<const std::byte> payload) {
    EXPECT_EQ(env.payload_length(), payload.size());
    got.push_back(as_text(payload));
  };

  auto first = sut_.poll(collect, 4, k_test_timeout_ns);
  ASSERT_TRUE(first.has_value()) << first.err().what();
  EXPECT_GE(*first, 1U);
  EXPECT_LE(*first, 4U);
  const bool all = wait_until([&] {
    auto more = sut_.poll(collect, 100, 1'000'000);
    return more.has_value() && got.size() == 10;
  });

  ASSERT_TRUE(all) << got.size() << " of 10 messages";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], "re:p" + std::to_string(i));
  EXPECT_EQ(sut_.poll(collect, 100, 0).value(), 0U);
}

// ---- full request ring ------------------------------------------------------------------

TEST_F(ClientAttachSmallRing, FullRingFailsAtOnceUnderFailPolicy) {
  attach(attach_options{.full_policy = ring_full_policy::fail});

  const std::size_t fitted = fill_request_ring(200);
  const auto refused = sut_.send(as_payload(std::string(200, 'x')));

  EXPECT_GT(fitted, 0U);
  EXPECT_LE(fitted, 4096U / 200U);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.code(), errc::full);
}

TEST_F(ClientAttachSmallRing, FullRingWaitsUntilTheKernelDrains) {
  attach(attach_options{.full_policy = ring_full_policy::fail});
  const std::size_t fitted = fill_request_ring(200);
  sut_.set_full_policy(ring_full_policy::wait, k_test_timeout_ns);
  kernel_.start(swallow, [this] { return kernel_.request_control().producer_parked.load() != 0; });

  const auto sent = sut_.send(as_payload(std::string(200, 'y')));

  ASSERT_TRUE(sent.has_value()) << sent.err().what();
  EXPECT_EQ(*sent, fitted + 1);
  EXPECT_TRUE(wait_until([&] { return kernel_.handled() == fitted + 1; }));
}

TEST_F(ClientAttachSmallRing, FullRingWaitGivesUpAfterItsTimeout) {
  attach(attach_options{.full_policy = ring_full_policy::fail});
  fill_request_ring(200);
  sut_.set_full_policy(ring_full_policy::wait, 50'000'000);
  const auto start = std::chrono::steady_clock::now();

  const auto sent = sut_.send(as_payload(std::string(200, 'y')));

  ASSERT_FALSE(sent.has_value());
  EXPECT_EQ(sent.code(), errc::timeout);
  EXPECT_GE(elapsed_ms(start), 50);
}

// ---- the kernel or the daemon going away -----------------------------------------------------

TEST_F(ClientAttach, TerminatedKernelFailsAWaitingReceivePromptly) {
  attach();
  script_thread terminator([&] {
    if (wait_until([&] { return client_parked_on_replies(); }, 10s)) {
      kernel_.close_replies(static_cast<std::uint32_t>(errc::terminated));
    }
  });
  const auto start = std::chrono::steady_clock::now();

  const auto received = sut_.receive(k_test_timeout_ns);

  ASSERT_FALSE(received.has_value());
  EXPECT_EQ(received.code(), errc::terminated);
  EXPECT_EQ(received.err().message, "kernel 'k' terminated");
  EXPECT_LT(elapsed_ms(start), 2000);
  EXPECT_EQ(sut_.send(as_payload("late")).code(), errc::terminated);
  EXPECT_EQ(sut_.request(as_payload("late"), k_test_timeout_ns).code(), errc::terminated);
}

TEST_F(ClientAttach, MessagesCommittedBeforeTerminationAreStillReceived) {
  attach();
  kernel_.write_reply(1, 0, "last words", 0);
  kernel_.close_replies(static_cast<std::uint32_t>(errc::terminated));

  const auto last = sut_.receive(k_test_timeout_ns);
  const auto after = sut_.receive(k_test_timeout_ns);

  ASSERT_TRUE(last.has_value()) << last.err().what();
  EXPECT_EQ(as_text(last->payload), "last words");
  EXPECT_EQ(after.code(), errc::terminated);
}

TEST_F(ClientAttach, RingClosedByTheDaemonIsPeerGone) {
  attach();
  kernel_.close_replies(1);

  const auto received = sut_.receive(k_test_timeout_ns);

  EXPECT_EQ(received.code(), errc::peer_gone);
  EXPECT_EQ(received.err().message, "pdcd closed the attachment to kernel 'k'");
}

TEST_F(ClientAttach, DaemonHangUpFailsAWaitingReceiveWithPeerGone) {
  attach({}, [this] {
    if (wait_until([&] { return client_parked_on_replies(); }, 10s)) daemon_.close();
  });
  const auto start = std::chrono::steady_clock::now();

  const auto received = sut_.receive(k_test_timeout_ns);

  ASSERT_FALSE(received.has_value());
  EXPECT_EQ(received.code(), errc::peer_gone);
  EXPECT_LT(elapsed_ms(start), 2000);
  EXPECT_EQ(sut_.send(as_payload("late")).code(), errc::peer_gone);
}

// ---- detaching and lifetimes ---------------------------------------------------------------------

TEST_F(ClientAttach, DetachSendsDetachAndClosesTheRings) {
  std::uint64_t detached = 0;
  attach({}, [&] { detached = answer_detach(daemon_); });

  const auto r = sut_.detach();
  script_->join();

  EXPECT_TRUE(r.has_value()) << r.err().what();
  EXPECT_EQ(detached, k_attachment_id);
  EXPECT_FALSE(sut_.attached());
  EXPECT_EQ(kernel_.request_control().producer_closed.load(), 1U);
  EXPECT_EQ(kernel_.reply_control().consumer_closed.load(), 1U);
  EXPECT_EQ(sut_.send(as_payload("late")).code(), errc::illegal_state);
}

TEST_F(ClientAttach, DetachStillWorksAfterTheClientMoved) {
  std::uint64_t detached = 0;
  attach({}, [&] { detached = answer_detach(daemon_); });
  client moved = std::move(*client_);
  client_.reset();

  const auto r = sut_.detach();
  script_->join();

  EXPECT_TRUE(r.has_value()) << r.err().what();
  EXPECT_EQ(detached, k_attachment_id);
  EXPECT_TRUE(moved.connected());
}

TEST_F(ClientAttach, DestroyingTheClientFirstIsSafe) {
  kernel_.start(echo);
  attach();
  script_->join();

  client_.reset();
  const auto received = sut_.receive(k_test_timeout_ns);
  const auto detached = sut_.detach();

  EXPECT_EQ(received.code(), errc::peer_gone);
  EXPECT_TRUE(detached.has_value());
  EXPECT_EQ(kernel_.request_control().producer_closed.load(), 1U);
}

TEST_F(ClientAttach, DestroyingTheAttachmentClosesTheRings) {
  attach();

  sut_ = attachment();

  EXPECT_EQ(kernel_.request_control().producer_closed.load(), 1U);
  EXPECT_EQ(kernel_.reply_control().consumer_closed.load(), 1U);
}

// ---- C ABI ----------------------------------------------------------------------------------------

TEST_F(ClientAttach, CApiRequestReceiveAndDetach) {
  kernel_.start(echo);
  std::uint64_t detached = 0;
  script_ = std::make_unique<script_thread>([&] {
    daemon_.answer_hello();
    answer_attach(daemon_, kernel_);
    detached = answer_detach(daemon_);
  });
  pdc_client* c = nullptr;
  ASSERT_EQ(pdc_adopt(daemon_.release_client_fd(), &c), PDC_OK);
  pdc_attachment* a = nullptr;
  pdc_attach_options options;
  pdc_attach_options_init(&options);
  options.full_policy = PDC_FULL_FAIL;
  ASSERT_EQ(pdc_attach(c, "k", &options, &a), PDC_OK) << pdc_last_error(c);
  char reply[4];
  std::size_t reply_size = sizeof reply;
  pdc_message_info info{};
  info.struct_size = sizeof info;

  const int too_small = pdc_attachment_request(a, "hello", 5, nullptr, k_test_timeout_ns, reply, &reply_size, &info);
  std::vector<char> big(reply_size);
  std::size_t big_size = big.size();
  const int held = pdc_attachment_receive(a, 0, big.data(), &big_size, &info);
  const int detach = pdc_attachment_detach(a);
  const int after = pdc_attachment_send(a, "x", 1, nullptr, nullptr);
  script_->join();

  EXPECT_EQ(too_small, PDC_E_MESSAGE_TOO_LARGE);
  EXPECT_EQ(reply_size, 8U);
  EXPECT_EQ(held, PDC_OK);
  EXPECT_EQ(std::string(big.data(), big_size), "re:hello");
  EXPECT_EQ(info.correlation_id, 1U);
  EXPECT_STREQ(info.kernel_id, "k");
  EXPECT_EQ(detach, PDC_OK);
  EXPECT_EQ(detached, k_attachment_id);
  EXPECT_EQ(after, PDC_E_ILLEGAL_STATE);
  EXPECT_NE(std::string(pdc_attachment_last_error(a)), "");
  pdc_attachment_close(a);
  pdc_close(c);
}

// ---- C ABI: batches and zero copy ---------------------------------------------------

// The line of /proc/self/maps whose range holds `p` ("" if none).
std::string mapping_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t from = 0;
    std::uintptr_t to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) == 2 && at >= from && at < to) return line;
  }
  return {};
}

// A C client attached to kernel "k" of the fake daemon (max_message_bytes as given).
class ClientAttachCBatch : public ClientAttach {
 protected:
  void c_attach(std::uint32_t max_bytes = 0) {
    script_ = std::make_unique<script_thread>([this, max_bytes] {
      daemon_.answer_hello();
      answer_attach(daemon_, kernel_, max_bytes);
    });
    ASSERT_EQ(pdc_adopt(daemon_.release_client_fd(), &c_), PDC_OK);
    pdc_attach_options options;
    pdc_attach_options_init(&options);
    ASSERT_EQ(pdc_attach(c_, "k", &options, &a_), PDC_OK) << pdc_last_error(c_);
    script_->join();
  }
  ~ClientAttachCBatch() override {
    pdc_attachment_close(a_);
    pdc_close(c_);
  }
  // Every message a receive_many loop gets until `n` came (or one call timed out).
  // Replies answer requests `first_id`, `first_id` + 1, ... in order.
  std::vector<std::string> receive_many_until(std::size_t n, std::uint64_t first_id = 1) {
    constexpr std::size_t buf_bytes = 4096;
    std::vector<std::string> got;
    std::vector<char> buf(buf_bytes);
    std::vector<std::size_t> sizes(64);
    std::vector<pdc_message_info> infos(64);
    for (auto& i : infos) i.struct_size = sizeof i;
    while (got.size() < n) {
      std::size_t count = 0;
      const int rc = pdc_attachment_receive_many(a_, k_test_timeout_ns, buf.data(), buf.size(), sizes.data(),
                                                 infos.data(), sizes.size(), &count);
      if (rc != PDC_OK) {
        ADD_FAILURE() << "receive_many: " << pdc_strerror(rc) << ": " << pdc_attachment_last_error(a_);
        break;
      }
      std::size_t at = 0;
      for (std::size_t i = 0; i < count; ++i) {
        got.emplace_back(buf.data() + at, sizes[i]);
        EXPECT_EQ(infos[i].correlation_id, first_id + got.size() - 1) << "replies come in order, one per request";
        EXPECT_STREQ(infos[i].kernel_id, "k");
        at += sizes[i];
      }
    }
    return got;
  }
  pdc_client* c_ = nullptr;
  pdc_attachment* a_ = nullptr;
};

TEST_F(ClientAttachCBatch, SendManyAndReceiveManyKeepOrderAndSizes) {
  kernel_.start(echo);
  c_attach();
  std::string data;
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 300; ++i) {
    const std::string text = "m" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7), '.');
    data += text;
    sizes.push_back(text.size());
  }
  std::size_t sent = 0;

  ASSERT_EQ(pdc_attachment_send_many(a_, data.data(), sizes.data(), sizes.size(), nullptr, &sent), PDC_OK)
      << pdc_attachment_last_error(a_);
  const auto got = receive_many_until(300);

  EXPECT_EQ(sent, 300U);
  ASSERT_EQ(got.size(), 300U);
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], "re:" + data.substr(at, sizes[i])) << i;
    at += sizes[i];
  }
}

TEST_F(ClientAttachCBatch, SendManyStopsAtAnOversizeMessageHavingSentThoseBefore) {
  kernel_.start(echo);
  c_attach(100);
  const std::string data = "a" + std::string(101, 'x') + "b";
  const std::size_t sizes[] = {1, 101, 1};
  std::size_t sent = 99;

  const int rc = pdc_attachment_send_many(a_, data.data(), sizes, 3, nullptr, &sent);
  const auto got = receive_many_until(1);
  std::size_t count = 0;
  char buf[16];
  std::size_t size_of[4];
  const int more = pdc_attachment_receive_many(a_, 20'000'000, buf, sizeof buf, size_of, nullptr, 4, &count);

  EXPECT_EQ(rc, PDC_E_MESSAGE_TOO_LARGE);
  EXPECT_EQ(sent, 1U);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0], "re:a");
  EXPECT_EQ(more, PDC_E_TIMEOUT) << "nothing after the refused message was sent";
  EXPECT_EQ(count, 0U);
}

TEST_F(ClientAttachCBatch, ReceiveManyLeavesAMessageThatDoesNotFitForTheNextCall) {
  kernel_.start(echo);
  c_attach();
  const std::string big(100, 'y');
  ASSERT_EQ(pdc_attachment_send(a_, "a", 1, nullptr, nullptr), PDC_OK);
  ASSERT_EQ(pdc_attachment_send(a_, big.data(), big.size(), nullptr, nullptr), PDC_OK);
  ASSERT_EQ(pdc_attachment_send(a_, "b", 1, nullptr, nullptr), PDC_OK);
  ASSERT_TRUE(wait_until([&] { return kernel_.seen().size() == 3; }));
  char small[50];
  std::size_t sizes[8];
  std::size_t count = 0;

  // "re:a", then the 103-byte reply does not fit: it stays.
  ASSERT_EQ(pdc_attachment_receive_many(a_, k_test_timeout_ns, small, sizeof small, sizes, nullptr, 8, &count), PDC_OK);
  ASSERT_EQ(count, 1U);
  EXPECT_EQ(std::string(small, sizes[0]), "re:a");
  EXPECT_EQ(pdc_attachment_receive_many(a_, k_test_timeout_ns, small, sizeof small, sizes, nullptr, 8, &count),
            PDC_E_MESSAGE_TOO_LARGE);
  EXPECT_EQ(sizes[0], 103U);
  EXPECT_EQ(count, 0U);
  std::vector<char> large(sizes[0] + 10);
  ASSERT_EQ(pdc_attachment_receive_many(a_, k_test_timeout_ns, large.data(), large.size(), sizes, nullptr, 8, &count),
            PDC_OK);
  ASSERT_GE(count, 1U);
  EXPECT_EQ(std::string(large.data(), sizes[0]), "re:" + big);
  if (count == 1) {
    ASSERT_EQ(pdc_attachment_receive_many(a_, k_test_timeout_ns, small, sizeof small, sizes, nullptr, 8, &count),
              PDC_OK);
    EXPECT_EQ(std::string(small, sizes[0]), "re:b");
  } else {
    EXPECT_EQ(std::string(large.data() + 103, sizes[1]), "re:b");
  }
}

TEST_F(ClientAttachCBatch, BeginSendStaysInvisibleUntilFlush) {
  kernel_.start(echo);
  c_attach();
  for (int i = 0; i < 10; ++i) {
    void* payload = nullptr;
    std::uint64_t id = 0;
    ASSERT_EQ(pdc_attachment_begin_send(a_, 2, nullptr, &payload, &id), PDC_OK) << pdc_attachment_last_error(a_);
    EXPECT_EQ(id, static_cast<std::uint64_t>(i + 1));
    const char text[2] = {'b', static_cast<char>('0' + i)};
    std::memcpy(payload, text, 2);
  }
  const auto published_before_flush = kernel_.request_control().write_pos.load();

  ASSERT_EQ(pdc_attachment_flush(a_), PDC_OK);
  const auto got = receive_many_until(10);

  EXPECT_EQ(published_before_flush, 0U);
  ASSERT_EQ(got.size(), 10U);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "re:b" + std::to_string(i));
}

TEST_F(ClientAttachCBatch, PeekLendsThePayloadInPlaceUntilRelease) {
  kernel_.start(echo);
  c_attach();
  ASSERT_EQ(pdc_attachment_send(a_, "one", 3, nullptr, nullptr), PDC_OK);
  ASSERT_EQ(pdc_attachment_send(a_, "two", 3, nullptr, nullptr), PDC_OK);
  const void* payload = nullptr;
  std::size_t size = 0;
  pdc_message_info info{};
  info.struct_size = sizeof info;

  ASSERT_EQ(pdc_attachment_peek(a_, k_test_timeout_ns, &payload, &size, &info), PDC_OK)
      << pdc_attachment_last_error(a_);
  const std::string peeked(static_cast<const char*>(payload), size);
  // The payload lies in the segment's mapping (a memfd), not in a copy.
  const bool in_segment = mapping_of(payload).find("memfd:pdc-attach-test") != std::string::npos;
  char buf[16];
  std::size_t buf_size = sizeof buf;
  std::size_t count = 0;
  std::size_t sizes[2];
  const int receive_meanwhile = pdc_attachment_receive(a_, 0, buf, &buf_size, nullptr);
  const int many_meanwhile = pdc_attachment_receive_many(a_, 0, buf, sizeof buf, sizes, nullptr, 2, &count);
  const int peek_meanwhile = pdc_attachment_peek(a_, 0, &payload, &size, nullptr);
  const int send_meanwhile = pdc_attachment_send(a_, "three", 5, nullptr, nullptr);
  ASSERT_EQ(pdc_attachment_release(a_), PDC_OK);
  const auto rest = receive_many_until(2, 2);

  EXPECT_EQ(peeked, "re:one");
  EXPECT_EQ(info.correlation_id, 1U);
  EXPECT_TRUE(in_segment) << mapping_of(payload);
  EXPECT_EQ(receive_meanwhile, PDC_E_ILLEGAL_STATE);
  EXPECT_EQ(many_meanwhile, PDC_E_ILLEGAL_STATE);
  EXPECT_EQ(peek_meanwhile, PDC_E_ILLEGAL_STATE);
  EXPECT_EQ(send_meanwhile, PDC_OK);
  ASSERT_EQ(rest.size(), 2U);
  EXPECT_EQ(rest[0], "re:two");
  EXPECT_EQ(rest[1], "re:three");
  EXPECT_EQ(pdc_attachment_release(a_), PDC_OK) << "releasing with nothing peeked does nothing";
}

TEST_F(ClientAttachCBatch, PeekAfterATooSmallReceiveLendsTheHeldMessage) {
  kernel_.start(echo);
  c_attach();
  ASSERT_EQ(pdc_attachment_send(a_, "held back", 9, nullptr, nullptr), PDC_OK);
  char tiny[2];
  std::size_t tiny_size = sizeof tiny;
  ASSERT_EQ(pdc_attachment_receive(a_, k_test_timeout_ns, tiny, &tiny_size, nullptr), PDC_E_MESSAGE_TOO_LARGE);
  const void* payload = nullptr;
  std::size_t size = 0;

  ASSERT_EQ(pdc_attachment_peek(a_, 0, &payload, &size, nullptr), PDC_OK);
  const std::string peeked(static_cast<const char*>(payload), size);
  std::size_t again = sizeof tiny;
  const int receive_meanwhile = pdc_attachment_receive(a_, 0, tiny, &again, nullptr);
  ASSERT_EQ(pdc_attachment_release(a_), PDC_OK);
  const int after = pdc_attachment_receive(a_, 0, tiny, &again, nullptr);

  EXPECT_EQ(peeked, "re:held back");
  EXPECT_EQ(receive_meanwhile, PDC_E_ILLEGAL_STATE);
  EXPECT_EQ(after, PDC_E_TIMEOUT) << "released means consumed";
}

TEST_F(ClientAttachCBatch, PollCallsBackForEachMessageInPlace) {
  kernel_.start(echo);
  c_attach();
  for (int i = 0; i < 5; ++i) {
    const std::string text = "p" + std::to_string(i);
    ASSERT_EQ(pdc_attachment_send(a_, text.data(), text.size(), nullptr, nullptr), PDC_OK);
  }
  std::vector<std::string> got;
  const pdc_message_fn collect = [](void* context, const void* payload, std::size_t size,
                                    const pdc_message_info* info) {
    auto& out = *static_cast<std::vector<std::string>*>(context);
    out.emplace_back(static_cast<const char*>(payload), size);
    EXPECT_EQ(info->correlation_id, out.size());
  };

  const bool all = wait_until([&] {
    std::size_t handled = 0;
    return pdc_attachment_poll(a_, collect, &got, 3, 1'000'000, &handled) == PDC_OK && handled <= 3 && got.size() == 5;
  });
  std::size_t none = 99;
  const int empty = pdc_attachment_poll(a_, collect, &got, 3, 0, &none);

  ASSERT_TRUE(all) << got.size() << " of 5";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "re:p" + std::to_string(i));
  EXPECT_EQ(empty, PDC_OK);
  EXPECT_EQ(none, 0U);
}

TEST_F(ClientAttachCBatch, BadArgumentsAreRefusedWithNothingSent) {
  c_attach();
  const std::size_t sizes[] = {1};
  std::size_t sent = 7;
  const void* payload = nullptr;
  std::size_t size = 0;
  std::size_t count = 0;
  char buf[4];

  EXPECT_EQ(pdc_attachment_send_many(a_, "x", nullptr, 1, nullptr, &sent), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(sent, 0U);
  EXPECT_EQ(pdc_attachment_send_many(a_, nullptr, sizes, 1, nullptr, &sent), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_begin_send(a_, 1, nullptr, nullptr, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_peek(a_, 0, nullptr, &size, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_peek(a_, 0, &payload, nullptr, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_receive_many(a_, 0, buf, sizeof buf, nullptr, nullptr, 1, &count), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_poll(a_, nullptr, nullptr, 1, 0, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_send_many(nullptr, "x", sizes, 1, nullptr, &sent), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_flush(nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_release(nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(kernel_.request_control().write_pos.load(), 0U);
}

TEST(ClientAttachCApi, NullHandlesAreInvalidArguments) {
  pdc_attachment* out = reinterpret_cast<pdc_attachment*>(0x1);
  std::size_t size = 0;

  EXPECT_EQ(pdc_attach(nullptr, "k", nullptr, &out), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(pdc_attachment_send(nullptr, "x", 1, nullptr, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_receive(nullptr, 0, nullptr, &size, nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_detach(nullptr), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_attachment_id(nullptr), 0U);
  pdc_attachment_close(nullptr);
}

}  // namespace
}  // namespace pdc

// The cuda tier's device protocol (pdc/cuda.cuh, docs/cuda.md) run from a
// CPU thread, against attachment segments made as pdcd makes them and the
// client's own ring views: the device's loop, compiled as host code, is
// the peer of the real client code. What a GPU would add is the mapping;
// the protocol, the checks and the control block are these.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pdc/core/attachment.hpp"
#include "pdc/core/device_waker.hpp"
#include "pdc/core/spsc_ring.hpp"
#include "pdc/cuda.cuh"
#include "pdc/proto/envelope.hpp"

namespace pdc::test {
namespace {

namespace dev = pdc::cuda;

// The device's words are the host's words.
static_assert(offsetof(dev::ring_words, write_pos) == offsetof(ring_control, write_pos));
static_assert(offsetof(dev::ring_words, read_pos) == offsetof(ring_control, read_pos));
static_assert(offsetof(dev::ring_words, consumer_parked) == offsetof(ring_control, consumer_parked));
static_assert(offsetof(dev::ring_words, producer_closed) == offsetof(ring_control, producer_closed));
static_assert(offsetof(dev::ring_words, producer_parked) == offsetof(ring_control, producer_parked));
static_assert(offsetof(dev::ring_words, consumer_closed) == offsetof(ring_control, consumer_closed));
static_assert(sizeof(dev::ring_words) == sizeof(ring_control));
static_assert(sizeof(dev::record_header) == sizeof(record_header));
static_assert(dev::k_record_data == k_record_data && dev::k_record_padding == k_record_padding);
static_assert(dev::k_envelope_bytes == sizeof(envelope));
static_assert(dev::k_flag_reply == k_envelope_flag_reply && dev::k_flag_error == k_envelope_flag_error);

TEST(CudaEmulation, TheDeviceEnvelopeIsTheWireEnvelope) {
  const envelope e = make_envelope(11, 5, 33, 22, 44, 55, 0x0102, 7);
  dev::envelope_words w{};
  std::memcpy(&w, &e, sizeof w);
  EXPECT_EQ(w.message_id, 11U);
  EXPECT_EQ(w.correlation_id, 22U);
  EXPECT_EQ(w.reply_to, 44U);
  EXPECT_EQ(w.send_timestamp_ns, 33U);
  EXPECT_EQ(w.payload_length, 5U);
  EXPECT_EQ(w.type_id, 55U);
  EXPECT_EQ(w.flags, 0x0102);
  EXPECT_EQ(w.priority, 7);
}

// echo on the device: the reply is the request's payload; type id 13 makes the handler fail.
struct echo_handler {
  std::uint32_t reply_bytes(const dev::message& m) const { return m.length; }
  int handle(const dev::message& m, dev::reply& out, std::uint32_t lane, std::uint32_t lanes) const {
    if (m.type_id == 13) return 1;
    // One-way (nobody waits): no reply to write; else at most what it asked for.
    const std::uint32_t n = m.length < out.capacity ? m.length : out.capacity;
    if (out.payload != nullptr) dev::copy_lanes(out.payload, m.payload, n, lane, lanes);
    out.length = n;
    return 0;
  }
};

// One attachment as pdcd makes it, and the client's view of the same segment.
struct attachment_pair {
  attachment_daemon_view daemon;
  attachment_client_view client;

  static std::unique_ptr<attachment_pair> make(std::uint64_t id, std::uint64_t ring_bytes = 1 << 16) {
    attachment_geometry g;
    g.request_ring_bytes = ring_bytes;
    g.reply_ring_bytes = ring_bytes;
    g.max_record_bytes = static_cast<std::uint32_t>(ring_bytes / 4);
    auto d = attachment_daemon_view::create("cuda-emulation", g, id);
    if (!d) throw std::runtime_error(d.err().what());
    auto c = attachment_client_view::open(::dup(d->seg().fd()));
    if (!c) throw std::runtime_error(c.err().what());
    return std::unique_ptr<attachment_pair>(new attachment_pair{std::move(d).value(), std::move(c).value()});
  }

  // The mailbox the host writes into the table for it (host pointers: the
  // emulation's address space; on a GPU, device pointers to the same bytes).
  [[nodiscard]] dev::mailbox mailbox(std::uint64_t id) const {
    auto ring = [&](std::uint32_t index) {
      ring_control* ctl = daemon.seg().control(index);
      const auto& r = daemon.seg().ring(index);
      return dev::ring_ref{reinterpret_cast<dev::ring_words*>(ctl), reinterpret_cast<std::byte*>(ctl + 1),
                           r.capacity_bytes, r.max_record_bytes, 0};
    };
    return dev::mailbox{ring(k_attachment_request_ring), ring(k_attachment_reply_ring), id, 0};
  }

  void send(std::uint64_t message_id, const std::string& text, std::uint32_t type_id = 0, std::uint16_t flags = 0) {
    const envelope e = make_envelope(message_id, static_cast<std::uint32_t>(text.size()), 1, 0, 0, type_id, flags);
    std::vector<std::byte> rec(sizeof e + text.size());
    std::memcpy(rec.data(), &e, sizeof e);
    std::memcpy(rec.data() + sizeof e, text.data(), text.size());
    ASSERT_EQ(client.requests().try_push(rec), errc::ok);
  }

  // The next reply (waits, bounded), as envelope and text.
  bool receive(envelope& env, std::string& text) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
      auto slot = client.replies().try_peek();
      if (slot.status == errc::corrupt_segment) return false;
      if (slot) {
        if (!read_envelope(slot.bytes, env)) return false;
        const auto p = payload_of(slot.bytes);
        text.assign(reinterpret_cast<const char*>(p.data()), p.size());
        client.replies().release();
        client.replies().flush_release();
        return true;
      }
      std::this_thread::yield();
    }
    return false;
  }
};

// The host's side of a running (emulated) kernel: the control block, the
// table, the cursors, and the thread running the device loop.
class emulated_kernel {
 public:
  // `stage_bytes` 0: records are read from the rings in place; else each
  // batch is staged first, as the GPU loops do (4 KiB: smaller than the
  // largest records, so both ways are taken).
  explicit emulated_kernel(std::uint32_t stage_bytes = 4096) : stage_(stage_bytes) {
    std::memset(static_cast<void*>(cb_.get()), 0, sizeof(dev::control_block));
    std::memset(static_cast<void*>(table_.get()), 0, sizeof(dev::mailbox_table));
    thread_ = std::thread([this] {
      dev::run_loop(cb_.get(), table_.get(), cursors_.get(), handler_, 0, 1, 64, 20'000,
                    stage_.empty() ? nullptr : stage_.data(), static_cast<std::uint32_t>(stage_.size()));
    });
  }
  ~emulated_kernel() { (void)terminate(); }
  emulated_kernel(const emulated_kernel&) = delete;
  emulated_kernel& operator=(const emulated_kernel&) = delete;

  void set_state(std::uint32_t s) { dev::store_release(&cb_->run_state, s); }
  // Writes slot `i` and publishes a new generation; true once the device
  // serves it (the host writes the table again only after that).
  bool put(std::uint32_t i, const dev::mailbox& m) {
    table_->slots[i] = m;
    const auto gen = ++generation_;
    dev::store_release(&cb_->table_generation, gen);
    return until([&] { return dev::load_acquire(&cb_->table_seen) >= gen; });
  }
  [[nodiscard]] dev::mailbox_state state(std::uint32_t i) {
    auto& s = table_->states[i];
    return {dev::load_acquire(&s.attachment_id), load(&s.processed), load(&s.malformed), dev::load_acquire(&s.broken),
            0};
  }
  [[nodiscard]] std::uint64_t heartbeat() { return load(&cb_->heartbeat); }
  [[nodiscard]] std::uint64_t processed() { return load(&cb_->processed); }
  [[nodiscard]] std::uint32_t state_seen() { return std::atomic_ref<std::uint32_t>(cb_->state_seen).load(); }
  [[nodiscard]] std::uint32_t idle() { return std::atomic_ref<std::uint32_t>(cb_->idle).load(); }
  // Terminate, bounded: the flag, then a wait for the device's stopped word.
  bool terminate() {
    if (!thread_.joinable()) return true;
    set_state(dev::k_run_terminate);
    const bool stopped = until([&] { return dev::load_acquire(&cb_->stopped) == 1; });
    if (stopped) thread_.join();
    return stopped;
  }

  static bool until(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::yield();
    }
    return done();
  }

 private:
  static std::uint64_t load(std::uint64_t* p) { return std::atomic_ref<std::uint64_t>(*p).load(); }
  std::unique_ptr<dev::control_block> cb_ = std::make_unique<dev::control_block>();
  std::unique_ptr<dev::mailbox_table> table_ = std::make_unique<dev::mailbox_table>();
  std::unique_ptr<dev::mailbox_cursor[]> cursors_ = std::make_unique<dev::mailbox_cursor[]>(dev::k_max_mailboxes);
  echo_handler handler_;
  std::vector<std::byte> stage_;
  std::uint64_t generation_ = 0;
  std::thread thread_;
};

class CudaEmulationStaged : public ::testing::TestWithParam<std::uint32_t> {};

// With the records read in place (0), and staged through buffers smaller
// and larger than the records (a record that does not fit is read in place).
INSTANTIATE_TEST_SUITE_P(StageBytes, CudaEmulationStaged, ::testing::Values(0U, 256U, 4096U));

TEST_P(CudaEmulationStaged, AClientsRequestsAreAnsweredInOrderThroughItsOwnRings) {
  auto a = attachment_pair::make(7);
  emulated_kernel k(GetParam());
  ASSERT_TRUE(k.put(0, a->mailbox(7)));
  k.set_state(dev::k_run_active);
  // Enough to wrap the 64 KiB rings many times, sizes varied so padding records occur.
  constexpr int k_messages = 5000;
  int received = 0;
  for (int i = 1; i <= k_messages; ++i) {
    const std::string text(static_cast<std::size_t>(i % 700), static_cast<char>('a' + i % 26));
    a->send(static_cast<std::uint64_t>(i), text);
    // Keep at most a few dozen in flight: the rings are small.
    while (i - received > 32 || (i == k_messages && received < k_messages)) {
      envelope env;
      std::string got;
      ASSERT_TRUE(a->receive(env, got)) << "reply " << received + 1;
      ++received;
      EXPECT_EQ(env.correlation_id(), static_cast<std::uint64_t>(received));
      EXPECT_EQ(env.reply_to(), 7U);
      EXPECT_EQ(env.flags(), k_envelope_flag_reply);
      EXPECT_EQ(got, std::string(static_cast<std::size_t>(received % 700), static_cast<char>('a' + received % 26)));
    }
  }
  EXPECT_EQ(received, k_messages);
  EXPECT_TRUE(emulated_kernel::until([&] { return k.processed() == k_messages; }));
  EXPECT_EQ(k.state(0).processed, static_cast<std::uint64_t>(k_messages));
  EXPECT_TRUE(k.terminate());
}

TEST(CudaEmulation, DeactivatedItHoldsRequestsAndActivatedItServesThemWithoutARelaunch) {
  auto a = attachment_pair::make(3);
  emulated_kernel k;
  ASSERT_TRUE(k.put(0, a->mailbox(3)));
  a->send(1, "held");
  // Inactive (the start state): the loop runs, sees the state, and serves nothing.
  ASSERT_TRUE(emulated_kernel::until([&] { return k.heartbeat() > 100; }));
  const auto beat = k.heartbeat();
  ASSERT_TRUE(emulated_kernel::until([&] { return k.heartbeat() > beat + 100; }));
  EXPECT_EQ(k.state_seen(), dev::k_run_inactive);
  EXPECT_EQ(k.processed(), 0U);
  EXPECT_FALSE(a->client.replies().has_data());
  EXPECT_EQ(k.idle(), 1U);
  k.set_state(dev::k_run_active);
  envelope env;
  std::string got;
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "held");
  // Deactivated again: a request sent after the device saw it waits.
  k.set_state(dev::k_run_inactive);
  ASSERT_TRUE(emulated_kernel::until([&] { return k.state_seen() == dev::k_run_inactive; }));
  const auto seen = k.heartbeat();
  a->send(2, "later");
  ASSERT_TRUE(emulated_kernel::until([&] { return k.heartbeat() > seen + 100; }));
  EXPECT_FALSE(a->client.replies().has_data());
  k.set_state(dev::k_run_active);
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "later");
  EXPECT_EQ(env.correlation_id(), 2U);
}

TEST(CudaEmulation, AttachmentsJoinAndLeaveARunningKernelThroughTheTable) {
  auto a = attachment_pair::make(1);
  auto b = attachment_pair::make(2);
  emulated_kernel k;
  k.set_state(dev::k_run_active);
  ASSERT_TRUE(k.put(0, a->mailbox(1)));
  a->send(1, "from a");
  envelope env;
  std::string got;
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "from a");
  ASSERT_TRUE(k.put(5, b->mailbox(2)));  // joins while it runs
  b->send(1, "from b");
  ASSERT_TRUE(b->receive(env, got));
  EXPECT_EQ(got, "from b");
  EXPECT_EQ(env.reply_to(), 2U);
  EXPECT_EQ(k.state(5).attachment_id, 2U);
  // a leaves: once the device acknowledged the generation, it reads a's rings no more.
  ASSERT_TRUE(k.put(0, dev::mailbox{}));
  EXPECT_EQ(k.state(0).attachment_id, 0U);
  a->send(2, "after leaving");
  b->send(2, "b goes on");
  ASSERT_TRUE(b->receive(env, got));
  EXPECT_EQ(got, "b goes on");
  EXPECT_FALSE(a->client.replies().has_data());
}

TEST(CudaEmulation, ARingThatLiesBreaksItsMailboxOnlyAndAMalformedRecordIsSkipped) {
  auto liar = attachment_pair::make(1);
  auto fair = attachment_pair::make(2);
  emulated_kernel k;
  k.set_state(dev::k_run_active);
  ASSERT_TRUE(k.put(0, liar->mailbox(1)));
  ASSERT_TRUE(k.put(1, fair->mailbox(2)));
  // A record too short for an envelope: skipped and counted, the next one answered.
  const std::byte junk[5] = {};
  ASSERT_EQ(fair->client.requests().try_push(junk), errc::ok);
  fair->send(9, "after junk");
  envelope env;
  std::string got;
  ASSERT_TRUE(fair->receive(env, got));
  EXPECT_EQ(got, "after junk");
  EXPECT_EQ(k.state(1).malformed, 1U);
  // A header whose tag is neither data nor padding, published by the client.
  ring_control* ctl = liar->daemon.seg().control(k_attachment_request_ring);
  auto* data = reinterpret_cast<std::byte*>(ctl + 1);
  const record_header bad{16, 0xdeadbeef};
  std::memcpy(data, &bad, sizeof bad);
  ctl->write_pos.store(24, std::memory_order_release);
  ASSERT_TRUE(emulated_kernel::until([&] { return k.state(0).broken != 0; }));
  EXPECT_EQ(k.state(0).broken, static_cast<std::uint32_t>(dev::ring_status::corrupt));
  // A write index that runs ahead of the ring by more than its size, likewise, on a fresh liar.
  auto runaway = attachment_pair::make(3);
  ASSERT_TRUE(k.put(2, runaway->mailbox(3)));
  runaway->daemon.seg().control(k_attachment_request_ring)->write_pos.store(1ULL << 40, std::memory_order_release);
  ASSERT_TRUE(emulated_kernel::until([&] { return k.state(2).broken != 0; }));
  // A write index off the records' 8-byte grid (what it covers is no whole header).
  auto crooked = attachment_pair::make(4);
  ASSERT_TRUE(k.put(3, crooked->mailbox(4)));
  crooked->daemon.seg().control(k_attachment_request_ring)->write_pos.store(4, std::memory_order_release);
  ASSERT_TRUE(emulated_kernel::until([&] { return k.state(3).broken != 0; }));
  EXPECT_EQ(k.state(3).broken, static_cast<std::uint32_t>(dev::ring_status::corrupt));
  // A reply ring whose read index claims more was read than was ever written.
  auto reader = attachment_pair::make(5, 1 << 12);
  ASSERT_TRUE(k.put(4, reader->mailbox(5)));
  reader->daemon.seg().control(k_attachment_reply_ring)->read_pos.store(1ULL << 30, std::memory_order_release);
  // Replies until they need room the lie would grant: the device then looks, and believes none of it.
  const std::string text(300, 'r');
  const envelope e = make_envelope(100, static_cast<std::uint32_t>(text.size()), 1);
  std::vector<std::byte> rec(sizeof e + text.size());
  std::memcpy(rec.data(), &e, sizeof e);
  std::memcpy(rec.data() + sizeof e, text.data(), text.size());
  ASSERT_TRUE(emulated_kernel::until([&] {
    (void)reader->client.requests().try_push(rec);  // full now and then: the device reads on
    return k.state(4).broken != 0;
  }));
  EXPECT_EQ(k.state(4).broken, static_cast<std::uint32_t>(dev::ring_status::corrupt));
  // The fair client is still served.
  fair->send(10, "still served");
  ASSERT_TRUE(fair->receive(env, got));
  EXPECT_EQ(got, "still served");
  EXPECT_TRUE(k.terminate());
}

TEST(CudaEmulation, AFailedHandlerAnswersWithAnErrorReplyAndAFullReplyRingWaits) {
  auto a = attachment_pair::make(4, 1 << 12);  // 4 KiB rings, 1 KiB records
  emulated_kernel k;
  k.set_state(dev::k_run_active);
  ASSERT_TRUE(k.put(0, a->mailbox(4)));
  a->send(1, "", 13);  // an empty payload: the error text needs more room than the reply asked
  envelope env;
  std::string got;
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(env.flags(), k_envelope_flag_reply | k_envelope_flag_error);
  EXPECT_EQ(got, "plugin_error: the device handler failed");
  // One-way: no reply at all.
  a->send(2, "nobody waits", 0, k_envelope_flag_no_reply);
  // Fill the reply ring without reading: the device stops, holding the rest.
  const std::string big(900, 'x');
  // Each ring holds 4 such records: 3 fill the reply ring, 3 wait in the request ring.
  constexpr int sent = 6;
  for (int i = 0; i < sent; ++i) {
    std::vector<std::byte> rec(sizeof(envelope) + big.size());
    const envelope e = make_envelope(100 + static_cast<std::uint64_t>(i), 900, 1);
    std::memcpy(rec.data(), &e, sizeof e);
    std::memcpy(rec.data() + sizeof e, big.data(), big.size());
    ASSERT_TRUE(emulated_kernel::until([&] { return a->client.requests().try_push(rec) == errc::ok; })) << i;
  }
  ASSERT_TRUE(emulated_kernel::until([&] { return k.state(0).processed >= 4; }));
  EXPECT_LT(k.state(0).processed, 2U + sent) << "the reply ring cannot hold them all";
  // All are read: the device served what fitted, waited, and served the rest.
  for (int i = 0; i < sent; ++i) {
    ASSERT_TRUE(a->receive(env, got)) << i;
    EXPECT_EQ(env.correlation_id(), 100U + static_cast<std::uint64_t>(i));
    EXPECT_EQ(got, big);
  }
  EXPECT_TRUE(emulated_kernel::until([&] { return k.state(0).processed == 2U + sent; }));
  EXPECT_EQ(k.state(0).broken, 0U);
}

// A device cannot wake a parked client: the host helper sees the reply
// ring move and wakes it. The client parks first (the kernel inactive, so
// nothing can answer yet), then the kernel is activated and replies.
TEST(CudaEmulation, TheHostHelperWakesAClientParkedOnItsReplyRing) {
  device_waker waker(std::chrono::microseconds(50));
  // The parked mark shows a moment before the client sleeps (it looks for
  // data once more after setting it): a reply in that moment is found
  // without a wake. So: each round must deliver its reply; at least one of
  // up to five must have been the helper's wake.
  std::uint64_t helped = 0;
  for (int round = 0; round < 5 && helped == 0; ++round) {
    auto a = attachment_pair::make(6);
    emulated_kernel k;
    ASSERT_TRUE(k.put(0, a->mailbox(6)));
    const auto handle = waker.add(&a->daemon.replies());
    const auto before = waker.snapshot().wakes;
    a->send(1, "wake me");
    // Parked on the futex (no spin), for up to 10 s per sleep: only a wake ends it sooner.
    const idle_strategy park{idle_strategy::kind::spin_park, 0, 0, 10'000'000'000ULL};
    errc waited = errc::internal;
    std::thread client([&] { waited = a->client.replies().wait_for_data(park, deadline::after_ns(20'000'000'000)); });
    ring_control* ctl = a->daemon.seg().control(k_attachment_reply_ring);
    ASSERT_TRUE(emulated_kernel::until([&] { return ctl->consumer_parked.load() != 0; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // asleep by now, almost surely
    k.set_state(dev::k_run_active);
    client.join();
    EXPECT_EQ(waited, errc::ok);
    EXPECT_GE(a->client.replies().stats().park_syscalls, 1U);
    envelope env;
    std::string got;
    ASSERT_TRUE(a->receive(env, got));
    EXPECT_EQ(got, "wake me");
    helped += waker.snapshot().wakes - before;
    waker.remove(handle);
  }
  EXPECT_GE(helped, 1U) << "no round was woken by the helper";
  // What watching costs while nothing happens (printed, not judged: a VM).
  const auto s0 = waker.snapshot();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto s1 = waker.snapshot();
  std::printf("device_waker idle: %llu rounds and %.2f ms of CPU in 200 ms\n",
              static_cast<unsigned long long>(s1.rounds - s0.rounds), static_cast<double>(s1.cpu_ns - s0.cpu_ns) / 1e6);
}

// The thread-per-message style: a handler without lanes, adapted.
struct upper_case {
  [[nodiscard]] std::uint32_t reply_bytes(const dev::message& m) const { return m.length; }
  int handle(const dev::message& m, dev::reply& out) const {
    if (m.length == 0) return 1;  // nothing to shout: an error reply
    for (std::uint32_t i = 0; i < m.length && i < out.capacity; ++i) {
      const auto c = static_cast<char>(m.payload[i]);
      out.payload[i] = static_cast<std::byte>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    out.type_id = 77;
    return 0;
  }
};

TEST(CudaEmulation, AThreadPerMessageHandlerServesThroughTheSameLoop) {
  auto a = attachment_pair::make(5);
  auto cb = std::make_unique<dev::control_block>();
  auto table = std::make_unique<dev::mailbox_table>();
  auto cursors = std::make_unique<dev::mailbox_cursor[]>(dev::k_max_mailboxes);
  std::memset(static_cast<void*>(cb.get()), 0, sizeof *cb);
  std::memset(static_cast<void*>(table.get()), 0, sizeof *table);
  dev::thread_per_message<upper_case> h{};
  std::thread loop([&] { dev::run_loop(cb.get(), table.get(), cursors.get(), h); });
  table->slots[0] = a->mailbox(5);
  dev::store_release(&cb->table_generation, std::uint64_t{1});
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_active));
  a->send(1, "quiet please");
  a->send(2, "");
  envelope env;
  std::string got;
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "QUIET PLEASE");
  EXPECT_EQ(env.type_id(), 77U);
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "plugin_error: the device handler failed");
  EXPECT_EQ(env.flags(), k_envelope_flag_reply | k_envelope_flag_error);
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_terminate));
  loop.join();
  EXPECT_EQ(dev::load_acquire(&cb->stopped), 1U);
}

// A client parked on a kernel that stays silent is not a reason to poll
// fast for ever: past the hot window the helper looks once per `quiet`,
// and still wakes the client when the reply comes at last.
TEST(CudaEmulation, AClientParkedOnASilentKernelCostsTheHelperOnlyItsQuietLooks) {
  device_waker waker(std::chrono::microseconds(20), std::chrono::microseconds(2000), std::chrono::microseconds(10'000));
  auto a = attachment_pair::make(9);
  emulated_kernel k;
  ASSERT_TRUE(k.put(0, a->mailbox(9)));
  const auto handle = waker.add(&a->daemon.replies());
  a->send(1, "late");
  const idle_strategy park{idle_strategy::kind::spin_park, 0, 0, 30'000'000'000ULL};
  errc waited = errc::internal;
  std::thread client([&] { waited = a->client.replies().wait_for_data(park, deadline::after_ns(60'000'000'000)); });
  ring_control* ctl = a->daemon.seg().control(k_attachment_reply_ring);
  ASSERT_TRUE(emulated_kernel::until([&] { return ctl->consumer_parked.load() != 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the hot window
  const auto s0 = waker.snapshot();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto s1 = waker.snapshot();
  // Each quiet look sleeps at least 2 ms: at most 101 looks in 200 ms (fast
  // polling would be thousands). Sleeps only ever last longer, so a slow
  // machine cannot break this bound.
  EXPECT_LE(s1.rounds - s0.rounds, 102U);
  k.set_state(dev::k_run_active);
  client.join();
  EXPECT_EQ(waited, errc::ok);
  envelope env;
  std::string got;
  ASSERT_TRUE(a->receive(env, got));
  EXPECT_EQ(got, "late");
  waker.remove(handle);
}

}  // namespace
}  // namespace pdc::test

// The cuda tier's executor (daemon/src/tiers/cuda_executor.cpp) on an
// emulated device: the backend hands out host memory as "device" memory,
// and the type's launch function runs the device loop of pdc/cuda.cuh,
// compiled as host code, on a thread. Everything the executor does is
// real: attachments made as pdcd makes them, their segments "registered",
// the mailbox table written and acknowledged, the control block's run
// state, terminate, faults. The test is the client, through the client's
// own ring views, and the control thread (the fake host's timers).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pdc/cuda.cuh"
#include "tiers/cuda_executor.hpp"
#include "unit/daemon_fixture.hpp"

namespace pdc::daemon {
namespace {

namespace dev = pdc::cuda;
using test::fake_host;
using test::test_client;

struct echo_device_handler {
  [[nodiscard]] std::uint32_t reply_bytes(const dev::message& m) const { return m.length; }
  int handle(const dev::message& m, dev::reply& out, std::uint32_t lane, std::uint32_t lanes) const {
    const std::uint32_t n = m.length < out.capacity ? m.length : out.capacity;
    if (out.payload != nullptr) dev::copy_lanes(out.payload, m.payload, n, lane, lanes);
    out.length = n;
    return 0;
  }
};

// A "stream": the thread the launched loop runs on.
struct emulated_stream {
  std::vector<std::byte> stage = std::vector<std::byte>(dev::k_stage_bytes);  // the loops' shared memory
  std::thread loop;
  std::atomic<bool> done{false};
  ~emulated_stream() {
    if (loop.joinable()) loop.join();
  }
};

// What the emulated device holds, so a test can see that nothing is left.
class emulated_backend final : public cuda_backend {
 public:
  emulated_backend() = default;
  // What an executor kept (a loop that never stopped, a failed kernel) is
  // the test's to free: its loops were told to end.
  ~emulated_backend() override {
    for (auto* s : streams) delete s;
    for (void* p : blocks) std::free(p);
  }
  emulated_backend(const emulated_backend&) = delete;
  emulated_backend& operator=(const emulated_backend&) = delete;
  [[nodiscard]] int ordinal() const noexcept override { return 0; }
  [[nodiscard]] std::string name() const override { return "emulated"; }
  result<std::uint64_t> register_host(void* host, std::size_t /*bytes*/) override {
    if (refuse_register) return make_error(errc::system_error, "cuMemHostRegister on GPU 0: CUDA_ERROR_OUT_OF_MEMORY");
    registered.insert(host);
    return reinterpret_cast<std::uint64_t>(host);
  }
  void unregister_host(void* host) noexcept override { registered.erase(host); }
  result<mapped_block> alloc_mapped(std::size_t bytes) override {
    void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    std::memset(p, 0, bytes);
    blocks.insert(p);
    return mapped_block{p, reinterpret_cast<std::uint64_t>(p), bytes};
  }
  void free_mapped(const mapped_block& b) noexcept override {
    if (b.host == nullptr) return;
    blocks.erase(b.host);
    std::free(b.host);
  }
  result<std::uint64_t> alloc_device(std::size_t bytes) override {
    auto b = alloc_mapped(bytes);
    return b->device;
  }
  void free_device(std::uint64_t device) noexcept override {
    if (device != 0) free_mapped(mapped_block{reinterpret_cast<void*>(device), device, 0});
  }
  result<void*> create_stream() override {
    auto* s = new emulated_stream;
    streams.insert(s);
    return static_cast<void*>(s);
  }
  void destroy_stream(void* stream) noexcept override {
    streams.erase(static_cast<emulated_stream*>(stream));
    delete static_cast<emulated_stream*>(stream);
  }
  stream_state query(void* stream, std::string& why) override {
    if (!fault.empty()) {
      why = fault;
      return stream_state::failed;
    }
    return static_cast<emulated_stream*>(stream)->done.load(std::memory_order_acquire) ? stream_state::done
                                                                                       : stream_state::running;
  }

  // The type's launch function: the loop on the stream's thread.
  static int launch(const pdc_cuda_launch_args* a, const char** error_name) {
    if (std::string(a->config) == "fail-launch") {
      *error_name = "cudaErrorNoKernelImageForDevice";
      return 209;
    }
    if (std::string(a->config) == "never-starts") return 0;  // queued behind other work, for ever
    auto* s = static_cast<emulated_stream*>(a->stream);
    auto* cb = static_cast<dev::control_block*>(a->control_block);
    auto* t = static_cast<dev::mailbox_table*>(a->mailbox_table);
    auto* cursors = static_cast<dev::mailbox_cursor*>(a->cursors);
    s->loop = std::thread([s, cb, t, cursors] {
      echo_device_handler h;
      dev::run_loop(cb, t, cursors, h, 0, 1, 64, 20'000, s->stage.data(), dev::k_stage_bytes);
      s->done.store(true, std::memory_order_release);
    });
    return 0;
  }

  std::set<void*> registered;
  std::set<void*> blocks;
  std::set<emulated_stream*> streams;
  std::string fault;  // set: every stream "fails" with it
  bool refuse_register = false;
};

class CudaExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = std::make_unique<emulated_backend>();
    backend = b.get();
    device = std::make_shared<cuda_device>(std::move(b));
  }
  void TearDown() override {
    for (auto& [id, k] : kernels) {
      if (k->state() != kernel_state::terminated && k->state() != kernel_state::created) stop(*k);
    }
  }

  // A launched cuda-tier kernel (not yet active); its launch's error if it failed.
  static int create(pdc_kernel_ctx* /*ctx*/, const char* /*config*/, void** state) {
    *state = nullptr;
    return PDC_OK;
  }
  static void destroy(void* /*state*/) { ++destroyed; }
  static inline int destroyed = 0;

  result<std::shared_ptr<kernel>> launch(const std::string& id, const std::string& config = "",
                                         std::uint64_t stop_timeout_ns = cuda_executor::k_stop_timeout_ns,
                                         std::uint64_t start_timeout_ns = cuda_executor::k_start_timeout_ns) {
    auto e = std::make_shared<kernel_type_entry>();
    e->name = "echo_emulated";
    e->tiers = PDC_TIER_MASK(PDC_TIER_CUDA);
    e->type.struct_size = sizeof(pdc_kernel_type);
    e->type.name = "echo_emulated";
    e->type.create = &create;
    e->type.destroy = &destroy;
    e->cuda = pdc_cuda_kernel{sizeof(pdc_cuda_kernel), 1, 32, 0, &emulated_backend::launch};
    launch_request req;
    req.kernel_type = e->name;
    req.kernel_id = id;
    req.tier = kernel_tier::cuda;
    req.capacity = 16;
    req.max_message_bytes = 1024;
    req.config = config;
    auto k = std::make_shared<kernel>(req, e, host);
    auto exec = std::make_unique<cuda_executor>(*k, device, *e->cuda, stop_timeout_ns, start_timeout_ns);
    auto* raw = exec.get();
    auto launched = k->launch(std::move(exec));
    if (!launched) return std::move(launched).err();
    kernels[id] = k;
    executors[id] = raw;
    return k;
  }

  // Fires the control thread's short timers (the executor's ticks), not the
  // kernel's drain deadline: the fake host would fire it at once.
  void tick() {
    auto due = std::move(host.timers);
    host.timers.clear();
    for (auto& [ns, fn] : due) {
      if (ns <= 100'000'000) {
        fn();
      } else {
        host.timers.emplace_back(ns, std::move(fn));
      }
    }
    host.run_posted();
  }

  // Runs the control thread's ticks until `done` (bounded: 20 s).
  bool until(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
      tick();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return done();
  }

  std::unique_ptr<test_client> attach(kernel& k, std::uint64_t session = 7) {
    auto g = k.attach(session, 64 * 1024, 64 * 1024);
    EXPECT_TRUE(g) << (g ? "" : g.err().what());
    return g ? std::make_unique<test_client>(*g) : nullptr;
  }

  std::optional<std::pair<envelope, std::string>> reply(test_client& c) {
    std::optional<std::pair<envelope, std::string>> r;
    EXPECT_TRUE(until([&] { return (r = c.reply()).has_value(); })) << "no reply";
    return r;
  }

  void stop(kernel& k) {
    bool done = false;
    k.terminate(false, 1'000'000'000, [&](result<void> r) {
      EXPECT_TRUE(r);
      done = true;
    });
    EXPECT_TRUE(until([&] { return done; })) << "terminate did not finish";
  }

  fake_host host;
  emulated_backend* backend = nullptr;
  std::shared_ptr<cuda_device> device;
  std::map<std::string, std::shared_ptr<kernel>> kernels;
  std::map<std::string, cuda_executor*> executors;
};

TEST_F(CudaExecutorTest, ServesAttachmentsThatJoinALaunchedKernelOnlyWhileItIsActive) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  auto a = attach(**k);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(backend->registered.size(), 1U) << "the attachment's segment is mapped for the device";

  // Launched, not active: the loop runs and holds the request.
  const auto first = a->send("before activate");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tick();
  EXPECT_FALSE(a->reply().has_value());

  ASSERT_TRUE((*k)->activate());
  auto r = reply(*a);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second, "before activate");
  EXPECT_EQ(r->first.correlation_id(), first);
  EXPECT_TRUE(r->first.flags() & k_envelope_flag_reply);

  // A second attachment joins the running loop through the table.
  auto b = attach(**k, 8);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 100; ++i) {
    const std::string ta = "a" + std::to_string(i);
    const std::string tb = "b" + std::to_string(i);
    a->send(ta);
    b->send(tb);
    auto ra = reply(*a);
    auto rb = reply(*b);
    ASSERT_TRUE(ra && rb);
    EXPECT_EQ(ra->second, ta);
    EXPECT_EQ(rb->second, tb);
  }

  // Deactivated: requests wait, and are served once it is active again.
  ASSERT_TRUE((*k)->deactivate());
  // Once the loop says it acted on inactive, no later round serves anyone.
  ASSERT_TRUE(until([&] { return executors["g"]->device_state_seen() == dev::k_run_inactive; }));
  a->send("while inactive");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tick();
  EXPECT_FALSE(a->reply().has_value());
  ASSERT_TRUE((*k)->activate());
  r = reply(*a);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second, "while inactive");

  const auto s = (*k)->snapshot();
  EXPECT_EQ(s.tier, kernel_tier::cuda);
  EXPECT_EQ(s.processed, 202U);
  EXPECT_EQ(s.workers, 1U);
}

TEST_F(CudaExecutorTest, TerminateDrainsTheRingsStopsTheLoopAndFreesEverything) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  auto a = attach(**k);
  ASSERT_NE(a, nullptr);
  for (int i = 0; i < 20; ++i) a->send("queued " + std::to_string(i));

  stop(**k);

  EXPECT_EQ((*k)->state(), kernel_state::terminated);
  int replies = 0;
  while (a->reply()) ++replies;
  EXPECT_EQ(replies, 20) << "a terminate without drop serves what the rings held";
  EXPECT_TRUE(backend->registered.empty());
  EXPECT_TRUE(backend->blocks.empty()) << "control block, table and cursors freed";
  EXPECT_TRUE(backend->streams.empty());
  EXPECT_EQ(a->view().replies().producer_close_reason(), static_cast<std::uint32_t>(errc::terminated));
}

TEST_F(CudaExecutorTest, AClientThatClosesItsRingIsLetGoAndItsSegmentUnmapped) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  auto a = attach(**k);
  auto b = attach(**k, 8);
  ASSERT_TRUE(a && b);
  a->send("x");
  ASSERT_TRUE(reply(*a));
  EXPECT_EQ(backend->registered.size(), 2U);

  a->view().requests().close(k_ring_closed);
  EXPECT_TRUE(until([&] { return backend->registered.size() == 1U; })) << "the closed attachment's segment is unmapped";
  EXPECT_EQ((*k)->attachment_count(), 1U);
  b->send("still served");
  auto r = reply(*b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second, "still served");

  // A detach (the session ended) lets go the same way.
  (*k)->detach(b->id());
  EXPECT_TRUE(until([&] { return backend->registered.empty(); }));
}

TEST_F(CudaExecutorTest, ACorruptRingBreaksOnlyItsAttachment) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  auto bad = attach(**k);
  auto good = attach(**k, 8);
  ASSERT_TRUE(bad && good);
  // A hostile client: a write index a whole ring ahead of what it wrote.
  auto* ctl = bad->view().seg().control(k_attachment_request_ring);
  ctl->write_pos.store(ctl->write_pos.load() + (1U << 20), std::memory_order_release);

  EXPECT_TRUE(until([&] { return bad->view().replies().producer_closed(); })) << "the broken attachment is closed";
  EXPECT_EQ(bad->view().replies().producer_close_reason(), static_cast<std::uint32_t>(errc::corrupt_segment));
  EXPECT_TRUE(host.logged("wrote a corrupt ring (an index or a header that cannot be right)"));
  good->send("unharmed");
  auto r = reply(*good);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second, "unharmed");
  EXPECT_TRUE(until([&] { return backend->registered.size() == 1U; }));
}

TEST_F(CudaExecutorTest, SocketMessagesAreRefusedWithAClearError) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  queued_message m;
  m.from = reply_address::session(42);
  m.env = make_envelope(5, 0, now_ns(), 0, 0, 0, 0);
  ASSERT_EQ((*k)->offer(m), offer_result::accepted);
  host.run_posted();

  ASSERT_FALSE(host.deliveries.empty());
  const auto& d = host.deliveries.back();
  EXPECT_EQ(d.session_id, 42U);
  EXPECT_EQ(d.what, delivery::error);
  EXPECT_NE(d.text().find("runs on the cuda tier, which serves attached clients' rings only"), std::string::npos)
      << d.text();
}

TEST_F(CudaExecutorTest, AFailedLaunchSaysWhyAndLeavesNothingAllocated) {
  auto k = launch("g", "fail-launch");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.err().code, errc::plugin_error);
  EXPECT_EQ(k.err().what(), "kernel 'g': the launch of its device loop failed (cudaErrorNoKernelImageForDevice)");
  EXPECT_TRUE(backend->blocks.empty());
  EXPECT_TRUE(backend->streams.empty());
}

TEST_F(CudaExecutorTest, ASegmentTheDeviceCannotMapRefusesTheAttachAlone) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  backend->refuse_register = true;
  auto g = (*k)->attach(7, 0, 0);
  ASSERT_FALSE(g);
  EXPECT_NE(g.err().what().find("its segment cannot be mapped for the GPU: cuMemHostRegister"), std::string::npos)
      << g.err().what();
  EXPECT_EQ((*k)->attachment_count(), 0U);
  backend->refuse_register = false;
  ASSERT_TRUE((*k)->activate());
  auto a = attach(**k);
  ASSERT_NE(a, nullptr);
  a->send("after");
  ASSERT_TRUE(reply(*a));
}

TEST_F(CudaExecutorTest, AtMostSixtyFourAttachmentsAndTheNextIsRefusedSayingSo) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  std::vector<std::unique_ptr<test_client>> clients;
  for (std::uint32_t i = 0; i < PDC_CUDA_MAX_MAILBOXES; ++i) {
    clients.push_back(attach(**k, 100 + i));
    ASSERT_NE(clients.back(), nullptr) << i;
  }
  auto g = (*k)->attach(7, 0, 0);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.err().code, errc::full);
  EXPECT_NE(g.err().what().find("serves 64 attachments already"), std::string::npos) << g.err().what();
  ASSERT_TRUE((*k)->activate());
  clients.back()->send("last");
  auto r = reply(*clients.back());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second, "last");
}

TEST_F(CudaExecutorTest, ADeviceFaultFailsTheKernelClosesItsClientsAndRefusesTheDevice) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  auto a = attach(**k);
  ASSERT_NE(a, nullptr);
  a->send("x");
  ASSERT_TRUE(reply(*a));

  backend->fault = "CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)";
  EXPECT_TRUE(until([&] { return (*k)->snapshot().state == kernel_state::failed; }));
  const auto s = (*k)->snapshot();
  EXPECT_EQ(s.last_error, "kernel 'g' failed on GPU 0: " + backend->fault);
  EXPECT_TRUE(host.logged("CUDA_ERROR_ILLEGAL_ADDRESS"));
  EXPECT_EQ(a->view().replies().producer_close_reason(), static_cast<std::uint32_t>(errc::plugin_error));
  auto g = (*k)->attach(8, 0, 0);
  ASSERT_FALSE(g);
  EXPECT_NE(g.err().what().find("CUDA_ERROR_ILLEGAL_ADDRESS"), std::string::npos) << g.err().what();
  // The context is poisoned for every kernel on the device: no more launches.
  EXPECT_NE(device->fault().find("context failed"), std::string::npos);
  auto other = launch("h");
  ASSERT_FALSE(other);
  EXPECT_NE(other.err().what().find("GPU 0's context failed"), std::string::npos) << other.err().what();
  backend->fault.clear();  // so the loop's thread is asked to end (terminate)
  stop(**k);
  EXPECT_EQ((*k)->state(), kernel_state::terminated);
}

TEST_F(CudaExecutorTest, ALoopThatNeverStartsIsReportedAndOneThatNeverStopsKeepsItsState) {
  auto k = launch("g", "never-starts", 100'000'000, 50'000'000);
  ASSERT_TRUE(k) << k.err().what();
  ASSERT_TRUE((*k)->activate());
  auto a = attach(**k);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(until([&] { return (*k)->last_error().find("has not started") != std::string::npos; }));
  EXPECT_EQ((*k)->last_error(),
            "kernel 'g': its device loop has not started 50 ms after its launch (is the GPU busy with other work?); "
            "attachments wait for it");
  // Terminate: the loop never says it stopped; after the bound the kernel
  // ends anyway, keeps what the loop may use mapped, and skips destroy().
  const int destroyed_before = destroyed;
  stop(**k);
  EXPECT_EQ((*k)->state(), kernel_state::terminated);
  EXPECT_TRUE(host.logged("the device loop has not stopped 100 ms after terminate"));
  EXPECT_TRUE(host.logged("destroy() skipped: the kernel's device loop may still use its state"));
  EXPECT_EQ(destroyed, destroyed_before);
  EXPECT_FALSE(backend->registered.empty()) << "its segment stays mapped for the GPU";
}

TEST_F(CudaExecutorTest, DestroyRunsOnceTheLoopHasStopped) {
  auto k = launch("g");
  ASSERT_TRUE(k) << k.err().what();
  const int destroyed_before = destroyed;
  stop(**k);
  EXPECT_EQ(destroyed, destroyed_before + 1);
}

}  // namespace
}  // namespace pdc::daemon

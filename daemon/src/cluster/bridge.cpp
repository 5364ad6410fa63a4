#include "cluster/bridge.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pdc/core/clock.hpp"
#include "pdc/core/histogram.hpp"
#include "runtime/reply_address.hpp"

namespace pdc::daemon {

bool split_remote_address(std::string_view address, std::string_view& node, std::string_view& kernel) noexcept {
  const auto slash = address.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= address.size()) return false;
  node = address.substr(0, slash);
  kernel = address.substr(slash + 1);
  return true;
}

namespace {

// Peers the metrics name one by one; senders beyond are summed as "_other"
// (without credentials on the servers, a subject's sender token is claimed,
// and a hostile publisher could invent names without end).
constexpr std::size_t k_max_named_peers = 256;

constexpr std::uint16_t k_error_reply_flags = k_envelope_flag_reply | k_envelope_flag_error;

// A message's sequence stream: one-way messages and requests travel on
// different connections, each in order.
enum stream : std::uint8_t { one_way_stream = 0, request_stream = 1, js_stream = 2, stream_count = 3 };

struct peer_stats {
  std::uint64_t messages_out = 0, bytes_out = 0, messages_in = 0, bytes_in = 0;
  std::uint64_t lost = 0;           // gaps in the sequence of what it sent here
  std::uint64_t late = 0;           // arrived after a later one
  std::uint64_t refused = 0;        // its messages refused here (not exported, access, full...)
  std::uint64_t send_failures = 0;  // publishes to it that NATS refused
  std::uint64_t timeouts = 0;       // requests to it that got no reply in time
  std::uint64_t error_replies = 0;  // error replies it sent to requests from here
  std::uint64_t malformed = 0;
  std::uint64_t out_seq[stream_count] = {0, 0, 0};  // last sequence number sent to it
  std::uint64_t in_epoch[stream_count] = {0, 0, 0};
  std::uint64_t in_next[stream_count] = {0, 0, 0};  // the sequence number expected next from it
  histogram round_trip;                             // requests from here to it, ns
};

struct outgoing_request {
  std::uint64_t session = 0;
  std::string address;  // "node/kernel", as the client named it
  std::string node;
  std::uint64_t message_id = 0;
  std::uint64_t sent_ns = 0;
};

struct incoming_request {
  std::string reply_subject;  // "" : nobody waits (an at-least-once one-way message)
  std::string node;
  natsMsg* js = nullptr;  // an at-least-once message, acknowledged when settled
  bool settled = false;   // its handler ran (every handler, for a batch)
  bool replied = false;
  std::uint32_t messages = 1;   // pdc messages it carries (a batch: several)
  std::uint32_t unsettled = 1;  // of those, how many handlers have not yet run
};

// How messages to one address travel: JetStream when the node made a stream
// for it (an at-least-once kernel), else core NATS.
struct route_mode {
  bool js = false;
  std::uint64_t until_ns = 0;  // looked up again after
};

constexpr std::uint64_t k_js_route_ttl_ns = 300'000'000'000ULL;   // 5 min
constexpr std::uint64_t k_core_route_ttl_ns = 30'000'000'000ULL;  // 30 s
constexpr std::int64_t k_nak_delay_ns = 250'000'000;              // a refused at-least-once message, again in
constexpr int k_max_publish_attempts = 15;  // each waiting k_publish_ack_wait_ms: past a leader election
constexpr std::int64_t k_publish_ack_wait_ms = 2000;
constexpr std::uint32_t k_batch_messages = 64;        // one-way messages in one NATS message, at most
constexpr std::size_t k_batch_bytes = 32 * 1024;      // and their bytes (a bigger message goes alone)
constexpr std::uint64_t k_batch_linger_ns = 100'000;  // how long the first of a batch waits for company

std::string stream_name(std::string_view node, std::string_view kernel) {
  std::string s = "PDC_";
  s.append(node).append("_").append(kernel);
  std::replace(s.begin(), s.end(), ':', '_');  // names take no ':'
  return s;
}

// Refusals that another delivery cannot change: the message is terminated.
bool permanent(errc e) noexcept {
  return e == errc::not_found || e == errc::permission_denied || e == errc::message_too_large ||
         e == errc::protocol_error || e == errc::invalid_argument;
}

// Ids with their deadlines, oldest first: what a sweep forgets.
struct expiry {
  std::uint64_t id;
  std::uint64_t deadline_ns;
};

std::string subject_of(std::string_view node, std::string_view kernel, std::string_view from) {
  std::string s = "pdc.";
  s.append(node).append(".").append(kernel).append(".").append(from);
  return s;
}

std::vector<std::string_view> tokens(std::string_view subject) {
  std::vector<std::string_view> out;
  while (true) {
    const auto dot = subject.find('.');
    out.push_back(subject.substr(0, dot));
    if (dot == std::string_view::npos) break;
    subject.remove_prefix(dot + 1);
  }
  return out;
}

bool valid_token(std::string_view t) {
  return static_cast<bool>(check_node_name(t));
}

std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

struct cluster_bridge::impl {
  cluster_config cfg;
  host h;
  natsOptions* fast_opts = nullptr;
  natsOptions* bulk_opts = nullptr;
  natsConnection* fast = nullptr;  // SendAsap: requests, replies and every subscription
  natsConnection* bulk = nullptr;  // buffered: one-way messages, written in batches
  natsSubscription* inbound = nullptr;
  natsSubscription* replies = nullptr;
  std::string inbox;  // this bridge's reply subjects: <inbox>.<id>
  std::uint64_t epoch = 0;
  std::atomic<std::uint64_t> reconnects{0}, disconnects{0};

  mutable std::mutex mu;  // everything below
  std::map<std::string, peer_stats, std::less<>> peers;
  std::unordered_map<std::uint64_t, outgoing_request> out_pending;
  std::deque<expiry> out_order;
  std::unordered_map<std::uint64_t, incoming_request> in_pending;
  std::deque<expiry> in_order;
  std::uint64_t next_out_id = 1;
  std::uint64_t next_in_id = 1;
  std::uint64_t late_replies = 0;  // answers to requests no longer awaited, each way
  std::uint64_t in_timeouts = 0;   // requests from other nodes that local kernels never answered in time

  // At least once (JetStream).
  jsCtx* js_admin = nullptr;                                      // on `fast`: streams, consumers, lookups
  jsCtx* js_pub = nullptr;                                        // on `bulk`: asynchronous publishing
  std::map<std::string, natsSubscription*, std::less<>> js_subs;  // kernel -> its consumer (control thread)
  std::vector<natsSubscription*> js_retired;                      // stopped; destroyed with the bridge
  std::unordered_map<std::string, route_mode> modes;              // "node/kernel" (mu)
  std::atomic<std::uint64_t> js_acked{0}, js_naked{0}, js_terminated{0}, js_retries{0}, js_failures{0};

  // Publishes JetStream did not acknowledge, each published again by one
  // thread once its pause is over: libnats's acknowledgement thread hands
  // them over and goes on, so a leader election that fails a thousand
  // messages costs one pause, not a thousand in a row.
  std::mutex retry_mu;  // the three below
  std::condition_variable retry_cv;
  std::multimap<std::uint64_t, natsMsg*> retry_due;  // due time (ns) -> message (owned)
  bool retry_stopping = false;
  std::thread retry_thread;

  // Takes `msg` to publish again at `due_ns`; false once retries stopped
  // (the caller keeps it).
  bool schedule_retry(natsMsg* msg, std::uint64_t due_ns) {
    {
      std::lock_guard lock(retry_mu);
      if (retry_stopping || !retry_thread.joinable()) return false;
      retry_due.emplace(due_ns, msg);
    }
    retry_cv.notify_one();
    return true;
  }

  void run_retries() {
    std::unique_lock lock(retry_mu);
    while (!retry_stopping) {
      if (retry_due.empty()) {
        retry_cv.wait(lock);
        continue;
      }
      const auto due = retry_due.begin()->first;
      const auto now = now_ns();
      if (due > now) {
        retry_cv.wait_for(lock, std::chrono::nanoseconds(due - now));
        continue;
      }
      natsMsg* msg = retry_due.begin()->second;
      retry_due.erase(retry_due.begin());
      lock.unlock();
      publish_again(msg);
      lock.lock();
    }
  }

  void publish_again(natsMsg* msg) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = k_publish_ack_wait_ms;
    const natsStatus s = js_PublishMsgAsync(js_pub, &msg, &po);  // on success, libnats owns msg
    if (s == NATS_OK) return;
    give_up(msg, "publishing again: " + std::string(natsStatus_GetText(s)), 0);
    natsMsg_Destroy(msg);
  }

  // An at-least-once message that will not be published again: counted,
  // logged, and its route looked up afresh next time.
  void give_up(natsMsg* msg, const std::string& why, int attempts) {
    const std::string subject = natsMsg_GetSubject(msg);
    // A batch's messages are each lost (this node wrote the header).
    bridge_header hd;
    std::uint64_t messages = 1;
    if (natsMsg_GetDataLength(msg) >= static_cast<int>(sizeof hd)) {
      std::memcpy(&hd, natsMsg_GetData(msg), sizeof hd);
      if (hd.what == bridge_header::batch) messages = hd.reserved;
    }
    js_failures.fetch_add(messages, std::memory_order_relaxed);
    spdlog::warn("cluster: at-least-once message(s) ({}) on '{}' not acknowledged after {} attempt(s): {}", messages,
                 subject, attempts, why);
    // pdcjs.<node>.<kernel>.<from>
    const auto t = tokens(subject);
    if (t.size() == 4) forget_route(std::string(t[1]) + "/" + std::string(t[2]));
  }

  // Ends the retry thread; what it still held is lost, and counted.
  void stop_retries() {
    {
      std::lock_guard lock(retry_mu);
      retry_stopping = true;
    }
    retry_cv.notify_one();
    if (retry_thread.joinable()) retry_thread.join();
    for (auto& [due, msg] : retry_due) {
      give_up(msg, "pdcd stopped before it was published again", 0);
      natsMsg_Destroy(msg);
    }
    retry_due.clear();
  }

  // One-way messages to an address that come faster than one per
  // k_batch_linger_ns travel together, up to k_batch_messages in one NATS
  // message (bridge_header::batch): NATS's cost is per message, and a
  // stream of small ones would otherwise cost each end a callback, an
  // allocation and a write each. A message that comes alone goes at once.
  struct batch {
    std::string node, kernel;
    bool js = false;
    std::vector<std::byte> body;  // records: envelope, payload, envelope, ...
    std::uint32_t count = 0;
    std::uint64_t first_ns = 0;         // its first message came (the flusher publishes it a linger later)
    std::uint64_t last_publish_ns = 0;  // to this address, alone or batched
  };
  std::mutex batch_mu;  // the five below; taken before mu, never after it
  std::condition_variable batch_cv;
  std::unordered_map<std::string, batch> batches;  // "node/kernel"
  bool batch_stopping = false;
  std::thread batch_thread;
  std::atomic<std::uint64_t> batches_out{0};
  std::uint64_t batches_in = 0;  // mu

  static std::vector<std::byte> record_bytes(const envelope& env, std::span<const std::byte> payload) {
    std::vector<std::byte> out(sizeof env + payload.size());
    std::memcpy(out.data(), &env, sizeof env);
    if (!payload.empty()) std::memcpy(out.data() + sizeof env, payload.data(), payload.size());
    return out;
  }

  // Publishes `count` records (one message, or a batch) to node/kernel:
  // numbered, counted, and through JetStream when `js` (any thread).
  natsStatus publish(std::string_view node, std::string_view kernel, bool js, bridge_header::kind what,
                     std::uint32_t count, std::span<const std::byte> body, const std::string& reply_subject = {}) {
    bridge_header hd;
    hd.what = count > 1 ? bridge_header::batch : what;
    hd.reserved = count > 1 ? static_cast<std::uint16_t>(count) : 0;
    hd.epoch = epoch;
    {
      std::lock_guard lock(mu);
      auto& ps = peer(node);
      // JetStream's copies are counted by JetStream; the sequence numbers
      // core messages (gaps are losses) and names JetStream's (dedup). A
      // batch takes one number per message, its own being the first.
      auto& seq = ps.out_seq[js ? js_stream : what == bridge_header::request ? request_stream : one_way_stream];
      hd.seq = seq + 1;
      seq += count;
      ps.messages_out += count;
      ps.bytes_out += sizeof hd + body.size();
    }
    if (count > 1) batches_out.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::byte> f(sizeof hd + body.size());
    std::memcpy(f.data(), &hd, sizeof hd);
    if (!body.empty()) std::memcpy(f.data() + sizeof hd, body.data(), body.size());
    natsStatus s = NATS_OK;
    if (js) {
      // At least once: JetStream acknowledges it to this node; the stream
      // drops a copy published again with the same message id.
      const std::string subject = "pdcjs." + std::string(node) + "." + std::string(kernel) + "." + cfg.node;
      const std::string msg_id = cfg.node + "-" + std::to_string(epoch) + "-" + std::to_string(hd.seq);
      natsMsg* m = nullptr;
      s = natsMsg_Create(&m, subject.c_str(), nullptr, reinterpret_cast<const char*>(f.data()),
                         static_cast<int>(f.size()));
      if (s == NATS_OK && !reply_subject.empty()) s = natsMsgHeader_Set(m, "Pdc-Reply", reply_subject.c_str());
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msg_id.c_str();
      po.MaxWait = k_publish_ack_wait_ms;  // unacknowledged by then: the error handler publishes it again
      if (s == NATS_OK) s = js_PublishMsgAsync(js_pub, &m, &po);
      natsMsg_Destroy(m);
    } else {
      const std::string subject = subject_of(node, kernel, cfg.node);
      s = reply_subject.empty() ? natsConnection_Publish(bulk, subject.c_str(), f.data(), static_cast<int>(f.size()))
                                : natsConnection_PublishRequest(fast, subject.c_str(), reply_subject.c_str(), f.data(),
                                                                static_cast<int>(f.size()));
    }
    if (s != NATS_OK) {
      std::lock_guard lock(mu);
      peer(node).send_failures += count;
    }
    return s;
  }

  // Publishes what `b` holds (batch_mu held).
  natsStatus flush(batch& b, std::uint64_t now) {
    if (b.count == 0) return NATS_OK;
    const auto s = publish(b.node, b.kernel, b.js, bridge_header::one_way, b.count, b.body);
    if (s != NATS_OK) {
      spdlog::warn("cluster: {} one-way message(s) to '{}/{}' not sent: {}", b.count, b.node, b.kernel,
                   natsStatus_GetText(s));
    }
    b.body.clear();
    b.count = 0;
    b.last_publish_ns = now;
    return s;
  }

  errc send_one_way(std::string_view node, std::string_view kernel, bool js, const envelope& env,
                    std::span<const std::byte> payload, std::uint64_t now) {
    const std::size_t size = sizeof env + payload.size();
    std::string key(node);
    key.append("/").append(kernel);
    std::lock_guard lock(batch_mu);
    if (batches.size() >= 256) {
      // Forgets addresses idle for a linger: they would send alone anyway
      // (a client naming ever new addresses grows nothing here).
      std::erase_if(batches, [now](const auto& e) {
        return e.second.count == 0 && now - e.second.last_publish_ns >= k_batch_linger_ns;
      });
    }
    auto [it, made] = batches.try_emplace(std::move(key));
    batch& b = it->second;
    if (made) {
      b.node = node;
      b.kernel = kernel;
    }
    // What it holds goes first: order is kept per address.
    if (b.count > 0 && (b.js != js || b.body.size() + size > k_batch_bytes)) (void)flush(b, now);
    natsStatus s = NATS_OK;
    if (b.count == 0 && (now - b.last_publish_ns >= k_batch_linger_ns || size > k_batch_bytes)) {
      // Alone (the last one went a while ago): at once.
      s = publish(node, kernel, js, bridge_header::one_way, 1, record_bytes(env, payload));
      b.last_publish_ns = now;
    } else {
      if (b.count == 0) {
        b.js = js;
        b.first_ns = now;
        batch_cv.notify_one();
      }
      const auto at = b.body.size();
      b.body.resize(at + size);
      std::memcpy(b.body.data() + at, &env, sizeof env);
      if (!payload.empty()) std::memcpy(b.body.data() + at + sizeof env, payload.data(), payload.size());
      if (++b.count >= k_batch_messages) s = flush(b, now);
    }
    if (s == NATS_OK) return errc::ok;
    return s == NATS_MAX_PAYLOAD ? errc::message_too_large : errc::peer_gone;
  }

  // The flusher: publishes each batch a linger after its first message,
  // unless it filled up first.
  void run_batches() {
    std::unique_lock lock(batch_mu);
    while (!batch_stopping) {
      const auto now = now_ns();
      std::uint64_t next = UINT64_MAX;
      for (auto& [key, b] : batches) {
        if (b.count == 0) continue;
        if (b.first_ns + k_batch_linger_ns <= now) {
          (void)flush(b, now);
        } else {
          next = std::min(next, b.first_ns + k_batch_linger_ns);
        }
      }
      if (next == UINT64_MAX) {
        batch_cv.wait(lock);
      } else {
        batch_cv.wait_for(lock, std::chrono::nanoseconds(next - now));
      }
    }
    for (auto& [key, b] : batches) (void)flush(b, now_ns());  // what came before the stop
  }

  void stop_batches() {
    {
      std::lock_guard lock(batch_mu);
      batch_stopping = true;
    }
    batch_cv.notify_one();
    if (batch_thread.joinable()) batch_thread.join();
  }

  [[nodiscard]] static bool connected(natsConnection* nc) {
    return nc != nullptr && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
  }

  // Drains a subscription and waits until its callbacks are done (bounded;
  // with the servers out of reach there is nothing to drain: it just ends).
  void drain(natsSubscription* sub) const {
    if (sub == nullptr || !natsSubscription_IsValid(sub)) return;
    if (connected(fast) && natsSubscription_Drain(sub) == NATS_OK) {
      (void)natsSubscription_WaitForDrainCompletion(sub, 2000);
    } else {
      (void)natsSubscription_Unsubscribe(sub);
    }
  }
  void stop_subscriptions() {
    drain(inbound);
    drain(replies);
  }

  ~impl() {
    // Subscriptions first: their callbacks use this object. Then what waits
    // in batches, published before the connections flush.
    stop_subscriptions();
    stop_batches();
    for (auto& [kernel, sub] : js_subs) drain(sub);
    for (auto& [id, req] : in_pending) natsMsg_Destroy(req.js);  // unacknowledged: delivered again later
    in_pending.clear();
    if (js_pub != nullptr && connected(bulk)) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 1000;
      (void)js_PublishAsyncComplete(js_pub, &po);
    }
    stop_retries();
    for (auto& [kernel, sub] : js_subs) natsSubscription_Destroy(sub);
    for (natsSubscription* sub : js_retired) natsSubscription_Destroy(sub);
    jsCtx_Destroy(js_admin);
    jsCtx_Destroy(js_pub);
    if (connected(bulk)) (void)natsConnection_FlushTimeout(bulk, 1000);
    natsSubscription_Destroy(inbound);
    natsSubscription_Destroy(replies);
    natsConnection_Destroy(fast);
    natsConnection_Destroy(bulk);
    natsOptions_Destroy(fast_opts);
    natsOptions_Destroy(bulk_opts);
  }

  // The stats of `name` (mu held).
  peer_stats& peer(std::string_view name) {
    auto it = peers.find(name);
    if (it != peers.end()) return it->second;
    if (peers.size() >= k_max_named_peers) return peers["_other"];
    return peers.emplace(std::string(name), peer_stats{}).first->second;
  }

  // Forgets what waited past its deadline (mu held).
  void sweep(std::uint64_t now) {
    while (!out_order.empty() && out_order.front().deadline_ns <= now) {
      const auto it = out_pending.find(out_order.front().id);
      if (it != out_pending.end()) {
        peer(it->second.node).timeouts++;
        out_pending.erase(it);
      }
      out_order.pop_front();
    }
    while (!in_order.empty() && in_order.front().deadline_ns <= now) {
      const auto it = in_pending.find(in_order.front().id);
      if (it != in_pending.end()) {
        in_timeouts++;
        natsMsg_Destroy(it->second.js);  // not acknowledged: JetStream delivers it again
        in_pending.erase(it);
      }
      in_order.pop_front();
    }
  }

  [[nodiscard]] std::uint64_t deadline(std::uint64_t now) const {
    return now + static_cast<std::uint64_t>(cfg.request_timeout_ms) * 1'000'000ULL;
  }

  static std::vector<std::byte> frame(const bridge_header& hd, const envelope& env,
                                      std::span<const std::byte> payload) {
    std::vector<std::byte> out(sizeof hd + sizeof env + payload.size());
    std::memcpy(out.data(), &hd, sizeof hd);
    std::memcpy(out.data() + sizeof hd, &env, sizeof env);
    if (!payload.empty()) std::memcpy(out.data() + sizeof hd + sizeof env, payload.data(), payload.size());
    return out;
  }

  // Publishes an error reply to `reply_subject` (a refused request).
  void publish_error(const char* reply_subject, std::uint64_t correlation_id, errc code, const std::string& why) {
    const std::string text = std::string(name_of(code)) + ": " + why;
    const auto bytes = std::as_bytes(std::span(text));
    const envelope env =
        make_envelope(0, static_cast<std::uint32_t>(bytes.size()), now_ns(), correlation_id, 0, 0, k_error_reply_flags);
    bridge_header hd;
    hd.what = bridge_header::reply;
    hd.epoch = epoch;
    const auto f = frame(hd, env, bytes);
    (void)natsConnection_Publish(fast, reply_subject, f.data(), static_cast<int>(f.size()));
  }

  // A message from another node (pdc... or pdcjs.<this node>.<kernel>.<from>),
  // checked whole before anything of it is believed; a malformed one is
  // counted against the sender its subject names.
  struct record {
    envelope env;
    std::span<const std::byte> payload;
  };
  struct inbound_frame {
    std::string_view subject, from;
    std::vector<std::string_view> t;
    std::size_t len = 0;
    bridge_header hd;
    std::vector<record> records;  // one, or a batch's (in order)
    bool framed = false;
  };
  // A batch's records: `count` of them, each a whole envelope and its
  // payload, filling `body` exactly; false (nothing believed) otherwise.
  static bool read_batch(std::span<const std::byte> body, std::size_t count, std::vector<record>& out) {
    if (count < 2 || count > k_batch_messages) return false;
    out.reserve(count);
    while (!body.empty() && out.size() < count) {
      record r;
      if (body.size() < sizeof r.env) return false;
      std::memcpy(static_cast<void*>(&r.env), body.data(), sizeof r.env);
      const std::size_t n = r.env.payload_length();
      if (n > body.size() - sizeof r.env) return false;
      r.payload = body.subspan(sizeof r.env, n);
      out.push_back(r);
      body = body.subspan(sizeof r.env + n);
    }
    return body.empty() && out.size() == count;
  }
  inbound_frame read_inbound(natsMsg* msg) {
    inbound_frame f;
    f.subject = natsMsg_GetSubject(msg);
    const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg));
    f.len = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
    f.t = tokens(f.subject);
    const bool named = f.t.size() == 4 && valid_token(f.t[3]);
    f.from = named ? f.t[3] : std::string_view("_unknown");
    f.framed = named && f.len >= sizeof f.hd && (std::memcpy(&f.hd, data, sizeof f.hd), true) &&
               f.hd.magic == bridge_header::k_magic && f.hd.version == 1;
    if (f.framed) {
      const auto body = std::span(data + sizeof f.hd, f.len - sizeof f.hd);
      if (f.hd.what == bridge_header::batch) {
        f.framed = read_batch(body, f.hd.reserved, f.records);
      } else {
        record r;
        f.framed = (f.hd.what == bridge_header::one_way || f.hd.what == bridge_header::request) && f.hd.reserved == 0 &&
                   read_envelope(body, r.env);
        if (f.framed) {
          r.payload = payload_of(body);
          f.records.push_back(r);
        }
      }
    }
    if (!f.framed) {
      f.records.clear();
      std::lock_guard lock(mu);
      peer(f.from).malformed++;
    }
    return f;
  }

  // ---- what other nodes send here (a libnats thread) ----
  void on_inbound(natsMsg* msg) {
    const char* reply = natsMsg_GetReply(msg);
    // pdc.<this node>.<kernel>.<from>: the subscription guarantees the first two.
    const inbound_frame f = read_inbound(msg);
    const std::string_view subject = f.subject, from = f.from;
    const std::size_t len = f.len;
    const bridge_header& hd = f.hd;
    const auto& t = f.t;
    if (!f.framed) {
      spdlog::warn("cluster: malformed message of {} bytes on '{}' refused", len, subject);
      if (reply != nullptr && reply[0] != '\0') {
        publish_error(reply, 0, errc::protocol_error,
                      "message on '" + std::string(subject) + "' is not a pdc bridge frame; refused");
      }
      return;
    }
    const std::string_view kernel_id = t[2];
    const bool wants_reply = hd.what == bridge_header::request && reply != nullptr && reply[0] != '\0';
    const auto now = now_ns();
    const auto count = f.records.size();
    std::uint64_t remote_session = 0;
    {
      std::lock_guard lock(mu);
      auto& p = peer(from);
      p.messages_in += count;
      p.bytes_in += len;
      if (count > 1) batches_in++;
      // Gaps in its sequence are messages NATS lost on the way (at most once);
      // a batch's messages have the numbers from its own on.
      const auto s = hd.what == bridge_header::request ? request_stream : one_way_stream;
      if (p.in_epoch[s] != hd.epoch) {
        p.in_epoch[s] = hd.epoch;
        p.in_next[s] = hd.seq + count;
      } else if (hd.seq >= p.in_next[s]) {
        p.lost += hd.seq - p.in_next[s];
        p.in_next[s] = hd.seq + count;
      } else {
        p.late += count;  // counted lost when a later one came first
        p.lost -= std::min<std::uint64_t>(p.lost, count);
      }
      if (wants_reply) {
        sweep(now);
        if (in_pending.size() >= cfg.max_pending) {
          p.refused++;
          publish_error(reply, f.records.front().env.message_id(), errc::full,
                        "node '" + cfg.node + "' has " + std::to_string(in_pending.size()) +
                            " requests from other nodes awaiting answers ([cluster] max_pending); refused");
          return;
        }
        remote_session = k_remote_session_bit | next_in_id++;
        in_pending.emplace(remote_session, incoming_request{reply, std::string(from)});
        in_order.push_back({remote_session, deadline(now)});
      }
    }
    for (const auto& [env, payload] : f.records) {
      // The bridge, not the sender, says where the answer goes.
      auto m = to_queue(env, payload, wants_reply ? reply_address::session(remote_session) : reply_address::nobody(),
                        wants_reply, 0);
      auto r = h.offer(kernel_id, from, m);
      if (r) continue;
      {
        std::lock_guard lock(mu);
        peer(from).refused++;
        if (wants_reply) in_pending.erase(remote_session);
      }
      spdlog::debug("cluster: message from node '{}' to '{}' refused: {}", from, kernel_id, r.err().what());
      if (wants_reply) publish_error(reply, env.message_id(), r.err().code, r.err().what());
    }
  }

  // What a kernel's queue takes for a message from another node: its
  // envelope with the flags the bridge decides (whether an answer is awaited).
  static queued_message to_queue(const envelope& env, std::span<const std::byte> payload, reply_address to,
                                 bool wants_reply, std::uint64_t settle_id) {
    const auto flags = static_cast<std::uint16_t>(wants_reply ? env.flags() & ~k_envelope_flag_no_reply
                                                              : env.flags() | k_envelope_flag_no_reply);
    return queued_message{make_envelope(env.message_id(), env.payload_length(), env.send_timestamp_ns(),
                                        env.correlation_id(), 0, env.type_id(), flags, env.priority()),
                          {payload.begin(), payload.end()},
                          to,
                          0,
                          settle_id};
  }

  // ---- at-least-once messages, from this node's consumers (a libnats thread) ----
  void on_js(natsMsg* msg) {
    // pdcjs.<this node>.<kernel>.<from>, as the stream's subjects make it.
    const inbound_frame f = read_inbound(msg);
    const std::string_view subject = f.subject, from = f.from;
    const std::size_t len = f.len;
    const bridge_header& hd = f.hd;
    const auto& t = f.t;
    if (!f.framed) {
      spdlog::warn("cluster: malformed at-least-once message of {} bytes on '{}' terminated", len, subject);
      (void)natsMsg_Term(msg, nullptr);
      js_terminated.fetch_add(1, std::memory_order_relaxed);
      natsMsg_Destroy(msg);
      return;
    }
    const char* reply = nullptr;
    if (hd.what != bridge_header::request || natsMsgHeader_Get(msg, "Pdc-Reply", &reply) != NATS_OK) reply = nullptr;
    const bool wants_reply = reply != nullptr && reply[0] != '\0';
    const auto now = now_ns();
    const auto count = static_cast<std::uint32_t>(f.records.size());
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mu);
      auto& p = peer(from);
      p.messages_in += count;
      p.bytes_in += len;
      if (count > 1) batches_in++;
      sweep(now);
      if (in_pending.size() >= cfg.max_pending) {
        p.refused += count;
        js_naked.fetch_add(count, std::memory_order_relaxed);
        (void)natsMsg_NakWithDelay(msg, k_nak_delay_ns, nullptr);
        natsMsg_Destroy(msg);
        return;
      }
      id = k_remote_session_bit | next_in_id++;
      incoming_request req{wants_reply ? std::string(reply) : std::string(), std::string(from), msg, false, false};
      req.messages = req.unsettled = count;
      in_pending.emplace(id, std::move(req));
      in_order.push_back({id, deadline(now)});
    }
    // Acknowledged once every handler of it ran (settle); a batch's message
    // that can never be taken is settled here, counted as terminated.
    for (const auto& [env, payload] : f.records) {
      auto m =
          to_queue(env, payload, wants_reply ? reply_address::session(id) : reply_address::nobody(), wants_reply, id);
      auto r = h.offer(t[2], from, m);
      if (r) continue;
      {
        std::lock_guard lock(mu);
        peer(from).refused++;
      }
      if (count > 1 && permanent(r.err().code)) {
        spdlog::debug("cluster: at-least-once message from node '{}' to '{}' refused: {}", from, t[2], r.err().what());
        js_terminated.fetch_add(1, std::memory_order_relaxed);
        settle_one(id);
        continue;
      }
      natsMsg* js = nullptr;
      {
        std::lock_guard lock(mu);
        const auto it = in_pending.find(id);
        if (it != in_pending.end()) {
          js = it->second.js;
          in_pending.erase(it);
        }
      }
      if (js == nullptr) return;
      if (permanent(r.err().code)) {
        // Another delivery would be refused the same way: it ends here, and a
        // sender that waits is told why.
        (void)natsMsg_Term(js, nullptr);
        js_terminated.fetch_add(1, std::memory_order_relaxed);
        if (wants_reply) publish_error(reply, env.message_id(), r.err().code, r.err().what());
      } else {
        // Full, rejected, terminating: not lost, delivered again shortly
        // (a batch whole: what of it was taken already comes twice).
        (void)natsMsg_NakWithDelay(js, k_nak_delay_ns, nullptr);
        js_naked.fetch_add(count, std::memory_order_relaxed);
      }
      natsMsg_Destroy(js);
      return;
    }
  }

  // One handler of at-least-once message `id` is done: the last one
  // acknowledges it (any thread).
  void settle_one(std::uint64_t id) {
    natsMsg* js = nullptr;
    std::uint32_t messages = 0;
    {
      std::lock_guard lock(mu);
      const auto it = in_pending.find(id);
      if (it == in_pending.end()) return;  // timed out or nak'd: JetStream delivers it again
      if (it->second.unsettled > 1) {
        it->second.unsettled--;
        return;
      }
      it->second.unsettled = 0;
      messages = it->second.messages;
      js = std::exchange(it->second.js, nullptr);
      it->second.settled = true;
      if (it->second.reply_subject.empty() || it->second.replied) in_pending.erase(it);
    }
    if (js == nullptr) return;
    if (natsMsg_Ack(js, nullptr) == NATS_OK) js_acked.fetch_add(messages, std::memory_order_relaxed);
    natsMsg_Destroy(js);
  }

  // True when messages to node/kernel go through JetStream (a lookup of its
  // stream, remembered a while).
  bool route_is_js(std::string_view node, std::string_view kernel, std::uint64_t now) {
    std::string key(node);
    key.append("/").append(kernel);
    {
      std::lock_guard lock(mu);
      const auto it = modes.find(key);
      if (it != modes.end() && it->second.until_ns > now) return it->second.js;
    }
    bool js = false;
    if (js_admin != nullptr) {
      jsOptions o;
      jsOptions_Init(&o);
      o.Wait = 2000;
      jsStreamInfo* si = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      js = js_GetStreamInfo(&si, js_admin, stream_name(node, kernel).c_str(), &o, &jerr) == NATS_OK;
      jsStreamInfo_Destroy(si);
    }
    std::lock_guard lock(mu);
    modes[key] = route_mode{js, now + (js ? k_js_route_ttl_ns : k_core_route_ttl_ns)};
    return js;
  }

  void forget_route(const std::string& key) {
    std::lock_guard lock(mu);
    modes.erase(key);
  }

  // ---- replies to requests sent from here (a libnats thread) ----
  void on_reply(natsMsg* msg) {
    const std::string_view subject = natsMsg_GetSubject(msg);
    const auto dot = subject.rfind('.');
    std::uint64_t id = 0;
    const auto digits = subject.substr(dot + 1);
    if (dot == std::string_view::npos ||
        std::from_chars(digits.data(), digits.data() + digits.size(), id).ec != std::errc()) {
      return;
    }
    outgoing_request req;
    {
      std::lock_guard lock(mu);
      const auto it = out_pending.find(id);
      if (it == out_pending.end()) {
        late_replies++;
        return;
      }
      req = std::move(it->second);
      out_pending.erase(it);
    }
    if (natsMsg_IsNoResponders(msg)) {
      // Nobody subscribes to that node's subjects: no pdcd of it is connected.
      {
        std::lock_guard lock(mu);
        peer(req.node).send_failures++;
      }
      const std::string text = std::string(name_of(errc::not_found)) + ": no pdcd of node '" + req.node +
                               "' is connected to the cluster; '" + req.address + "' was not reached";
      post_reply(req,
                 make_envelope(0, static_cast<std::uint32_t>(text.size()), now_ns(), req.message_id, 0, 0,
                               k_error_reply_flags),
                 std::vector<std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                        reinterpret_cast<const std::byte*>(text.data()) + text.size()));
      return;
    }
    const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg));
    const auto len = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
    bridge_header hd;
    envelope env;
    const bool framed = len >= sizeof hd && (std::memcpy(&hd, data, sizeof hd), true) &&
                        hd.magic == bridge_header::k_magic && hd.version == 1 && hd.what == bridge_header::reply &&
                        read_envelope(std::span(data + sizeof hd, len - sizeof hd), env) &&
                        env.correlation_id() == req.message_id;
    const auto now = now_ns();
    {
      std::lock_guard lock(mu);
      auto& p = peer(req.node);
      if (!framed) {
        p.malformed++;
      } else {
        p.messages_in++;
        p.bytes_in += len;
        if ((env.flags() & k_envelope_flag_error) != 0) p.error_replies++;
        p.round_trip.record(now - req.sent_ns);
      }
    }
    if (!framed) {
      const std::string text = std::string(name_of(errc::protocol_error)) + ": the reply from '" + req.address +
                               "' was not a pdc bridge frame answering this request";
      post_reply(
          req,
          make_envelope(0, static_cast<std::uint32_t>(text.size()), now, req.message_id, 0, 0, k_error_reply_flags),
          std::vector<std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                 reinterpret_cast<const std::byte*>(text.data()) + text.size()));
      return;
    }
    const auto payload = payload_of(std::span(data + sizeof hd, len - sizeof hd));
    post_reply(req, env, {payload.begin(), payload.end()});
  }

  void post_reply(const outgoing_request& req, const envelope& env, std::vector<std::byte> payload) {
    h.post([this, session = req.session, address = req.address, env, payload = std::move(payload)] {
      h.to_session(session, address, env, payload);
    });
  }
};

namespace {

void on_inbound_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<cluster_bridge::impl*>(closure)->on_inbound(msg);
  natsMsg_Destroy(msg);
}

void on_js_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<cluster_bridge::impl*>(closure)->on_js(msg);  // owns msg
}

// An asynchronous JetStream publish that was not acknowledged: published
// again (the stream drops a duplicate by its message id), a few times.
void on_js_publish_error(jsCtx*, jsPubAckErr* pae, void* closure) {
  auto* p = static_cast<cluster_bridge::impl*>(closure);
  const char* tries = nullptr;
  int attempt = 1;
  if (natsMsgHeader_Get(pae->Msg, "Pdc-Attempt", &tries) == NATS_OK && tries != nullptr) attempt = std::atoi(tries);
  if (attempt < k_max_publish_attempts && pae->ErrCode != JSStreamNotFoundErr) {
    // "No responders" comes at once while the stream elects a leader: the
    // retry thread publishes it again after a pause a little longer each time.
    const std::uint64_t pause_ms = attempt >= 10 ? 1000U : 100U * static_cast<unsigned>(attempt);
    const std::uint64_t pause_ns = pause_ms * 1'000'000U;
    const std::string next = std::to_string(attempt + 1);
    if (natsMsgHeader_Set(pae->Msg, "Pdc-Attempt", next.c_str()) == NATS_OK &&
        p->schedule_retry(pae->Msg, now_ns() + pause_ns)) {
      pae->Msg = nullptr;  // the retry thread's now (libnats destroys what is left here)
      p->js_retries.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  p->give_up(pae->Msg, pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err), attempt);
}

void on_reply_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<cluster_bridge::impl*>(closure)->on_reply(msg);
  natsMsg_Destroy(msg);
}

void on_reconnected(natsConnection*, void* closure) {
  auto* p = static_cast<cluster_bridge::impl*>(closure);
  p->reconnects.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("cluster: node '{}' reconnected to NATS", p->cfg.node);
}

void on_disconnected(natsConnection*, void* closure) {
  auto* p = static_cast<cluster_bridge::impl*>(closure);
  p->disconnects.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("cluster: node '{}' lost its NATS connection; reconnecting", p->cfg.node);
}

void on_async_error(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
  auto* p = static_cast<cluster_bridge::impl*>(closure);
  spdlog::warn("cluster: node '{}': NATS: {}", p->cfg.node, natsStatus_GetText(err));
}

error nats_error(const std::string& what, natsStatus s) {
  return make_error(errc::system_error, what + ": " + natsStatus_GetText(s));
}

result<natsOptions*> make_options(const cluster_config& cfg, cluster_bridge::impl* p, bool send_asap,
                                  const char* role) {
  natsOptions* o = nullptr;
  if (natsOptions_Create(&o) != NATS_OK) return make_error(errc::internal, "natsOptions_Create failed");
  std::vector<const char*> urls;
  for (const auto& u : cfg.urls) urls.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  const std::string name = "pdcd node " + cfg.node + " (" + role + ")";
  if (s == NATS_OK) s = natsOptions_SetName(o, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, send_asap);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(o, true, nullptr, nullptr);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, p);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, p);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_async_error, p);
  // JetStream's answers come to _pdc_reply.<node>.*, which servers let this node alone read.
  const std::string inbox_prefix = "_pdc_reply." + cfg.node;
  if (s == NATS_OK) s = natsOptions_SetCustomInboxPrefix(o, inbox_prefix.c_str());
  if (s == NATS_OK && !cfg.user.empty()) s = natsOptions_SetUserInfo(o, cfg.user.c_str(), cfg.password.c_str());
  if (s == NATS_OK && !cfg.nkey.empty()) {
    s = natsOptions_SetNKeyFromSeed(o, cfg.nkey.c_str(), cfg.nkey_seed_file.c_str());
  }
  if (s != NATS_OK) {
    natsOptions_Destroy(o);
    return nats_error("cluster options", s);
  }
  return o;
}

}  // namespace

cluster_bridge::cluster_bridge(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
cluster_bridge::~cluster_bridge() = default;

result<std::unique_ptr<cluster_bridge>> cluster_bridge::connect(const cluster_config& cfg, host h) {
  auto p = std::make_unique<impl>();
  p->cfg = cfg;
  p->h = std::move(h);
  std::random_device rd;
  p->epoch = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ now_ns();
  auto fo = make_options(cfg, p.get(), true, "requests");
  if (!fo) return std::move(fo).err();
  p->fast_opts = *fo;
  auto bo = make_options(cfg, p.get(), false, "one-way");
  if (!bo) return std::move(bo).err();
  p->bulk_opts = *bo;
  // Not yet connected is fine: libnats keeps trying in the background, and
  // subscriptions made now are sent once it connects.
  natsStatus s = natsConnection_Connect(&p->fast, p->fast_opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) return nats_error("cluster: connecting to NATS", s);
  s = natsConnection_Connect(&p->bulk, p->bulk_opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) return nats_error("cluster: connecting to NATS", s);
  // Replies come to _pdc_reply.<node>.<unique>.<id>: servers can then let
  // each node subscribe to its own replies only (docs/cluster.md).
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return make_error(errc::internal, "natsInbox_Create failed");
  const std::string unique = inbox;
  natsInbox_Destroy(inbox);
  p->inbox = "_pdc_reply." + cfg.node + "." + unique.substr(unique.rfind('.') + 1);
  const std::string mine = "pdc." + cfg.node + ".*.*";
  s = natsConnection_Subscribe(&p->inbound, p->fast, mine.c_str(), on_inbound_cb, p.get());
  if (s == NATS_OK) {
    s = natsSubscription_SetPendingLimits(p->inbound, static_cast<int>(cfg.max_incoming_messages),
                                          static_cast<int>(cfg.max_incoming_bytes));
  }
  // JetStream, where the servers have it (at-least-once kernels need it).
  if (cfg.jetstream) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if (natsConnection_JetStream(&p->js_admin, p->fast, &jo) != NATS_OK) p->js_admin = nullptr;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.ErrHandler = on_js_publish_error;
    jo.PublishAsync.ErrHandlerClosure = p.get();
    if (natsConnection_JetStream(&p->js_pub, p->bulk, &jo) != NATS_OK) p->js_pub = nullptr;
    if (p->js_pub != nullptr) p->retry_thread = std::thread([raw = p.get()] { raw->run_retries(); });
  }
  p->batch_thread = std::thread([raw = p.get()] { raw->run_batches(); });
  const std::string answers = p->inbox + ".*";
  if (s == NATS_OK) s = natsConnection_Subscribe(&p->replies, p->fast, answers.c_str(), on_reply_cb, p.get());
  if (s != NATS_OK) return nats_error("cluster: subscribing to " + mine, s);
  return std::unique_ptr<cluster_bridge>(new cluster_bridge(std::move(p)));
}

const std::string& cluster_bridge::node() const noexcept {
  return impl_->cfg.node;
}

void cluster_bridge::stop() {
  impl_->stop_subscriptions();
}

errc cluster_bridge::send(std::string_view node, std::string_view kernel, const envelope& env,
                          std::span<const std::byte> payload, std::uint64_t reply_session) {
  auto& p = *impl_;
  const auto now = now_ns();
  const bool js = p.js_pub != nullptr && p.route_is_js(node, kernel, now);
  if (reply_session == 0) return p.send_one_way(node, kernel, js, env, payload, now);
  std::uint64_t id = 0;
  std::string reply_subject;
  {
    std::lock_guard lock(p.mu);
    auto& peer = p.peer(node);
    p.sweep(now);
    if (p.out_pending.size() >= p.cfg.max_pending) {
      peer.send_failures++;
      return errc::full;
    }
    id = p.next_out_id++;
    p.out_pending.emplace(id, outgoing_request{reply_session, std::string(node) + "/" + std::string(kernel),
                                               std::string(node), env.message_id(), now});
    p.out_order.push_back({id, p.deadline(now)});
    reply_subject = p.inbox + "." + std::to_string(id);
  }
  const auto s =
      p.publish(node, kernel, js, bridge_header::request, 1, impl::record_bytes(env, payload), reply_subject);
  if (s == NATS_OK) return errc::ok;
  std::lock_guard lock(p.mu);
  p.out_pending.erase(id);
  return s == NATS_MAX_PAYLOAD ? errc::message_too_large : errc::peer_gone;
}

errc cluster_bridge::answer(std::uint64_t session_id, const envelope& env, std::span<const std::byte> payload) {
  auto& p = *impl_;
  incoming_request req;
  {
    std::lock_guard lock(p.mu);
    const auto it = p.in_pending.find(session_id);
    if (it == p.in_pending.end() || it->second.reply_subject.empty() || it->second.replied) {
      p.late_replies++;
      return errc::peer_gone;
    }
    req.reply_subject = it->second.reply_subject;
    req.node = it->second.node;
    if (it->second.js != nullptr && !it->second.settled) {
      it->second.replied = true;  // acknowledged when its handler returns (settle)
    } else {
      natsMsg_Destroy(it->second.js);
      p.in_pending.erase(it);
    }
    auto& peer = p.peer(req.node);
    peer.messages_out++;
    peer.bytes_out += sizeof(bridge_header) + sizeof env + payload.size();
  }
  bridge_header hd;
  hd.what = bridge_header::reply;
  hd.epoch = p.epoch;
  const auto f = impl::frame(hd, env, payload);
  if (natsConnection_Publish(p.fast, req.reply_subject.c_str(), f.data(), static_cast<int>(f.size())) == NATS_OK) {
    return errc::ok;
  }
  std::lock_guard lock(p.mu);
  p.peer(req.node).send_failures++;
  return errc::peer_gone;
}

result<void> cluster_bridge::prepare_at_least_once(std::string_view kernel, std::uint32_t capacity) {
  auto& p = *impl_;
  if (p.js_admin == nullptr) {
    return make_error(errc::not_supported, "kernel '" + std::string(kernel) +
                                               "': at-least-once delivery needs jetstream = true in [cluster]");
  }
  const std::string name = stream_name(p.cfg.node, kernel);
  const std::string subject = "pdcjs." + p.cfg.node + "." + std::string(kernel) + ".*";
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = p.cfg.replicas;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&si, p.js_admin, &sc, nullptr, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) s = js_UpdateStream(&si, p.js_admin, &sc, nullptr, &jerr);
  jsStreamInfo_Destroy(si);
  auto refuse = [&](const std::string& what) {
    return make_error(errc::system_error, "at-least-once delivery for kernel '" + std::string(kernel) +
                                              "' needs JetStream " + what + ": " + natsStatus_GetText(s) +
                                              (jerr != 0 ? " (JetStream error " + std::to_string(jerr) + ")" : "") +
                                              "; are the NATS servers run with JetStream (-js)?");
  };
  if (s != NATS_OK) return refuse("stream " + name);
  const std::string deliver = "_pdc_deliver." + p.cfg.node + "." + std::string(kernel);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = "pdcd";
  cc.DeliverSubject = deliver.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = static_cast<std::int64_t>(p.cfg.ack_wait_ms) * 1'000'000;
  cc.MaxAckPending = capacity;  // no more unacknowledged than its queue holds
  jsConsumerInfo* ci = nullptr;
  s = js_AddConsumer(&ci, p.js_admin, name.c_str(), &cc, nullptr, &jerr);
  if (s != NATS_OK && jerr == JSConsumerNameExistErr)
    s = js_UpdateConsumer(&ci, p.js_admin, name.c_str(), &cc, nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK) return refuse("consumer pdcd of stream " + name);
  return ok();
}

result<void> cluster_bridge::start_at_least_once(std::string_view kernel) {
  auto& p = *impl_;
  const std::string name = stream_name(p.cfg.node, kernel);
  const std::string subject = "pdcjs." + p.cfg.node + "." + std::string(kernel) + ".*";
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = name.c_str();
  so.Consumer = "pdcd";
  so.ManualAck = true;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // A consumer made a moment ago on a replicated stream may not have its
  // leader yet (the lookup js_Subscribe makes then fails): asked again for
  // a while before the kernel is marked failed.
  natsStatus s = NATS_OK;
  for (int attempt = 0; attempt < 50; ++attempt) {
    jerr = static_cast<jsErrCode>(0);
    s = js_Subscribe(&sub, p.js_admin, subject.c_str(), on_js_cb, &p, nullptr, &so, &jerr);
    if (s == NATS_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (s != NATS_OK) {
    return make_error(errc::system_error, "cannot consume JetStream stream " + name +
                                              " (10 s of tries): " + natsStatus_GetText(s) +
                                              (jerr != 0 ? " (JetStream error " + std::to_string(jerr) + ")" : ""));
  }
  p.js_subs[std::string(kernel)] = sub;
  return ok();
}

void cluster_bridge::stop_at_least_once(std::string_view kernel) {
  auto& p = *impl_;
  const auto it = p.js_subs.find(kernel);
  if (it == p.js_subs.end()) return;
  // Drained, not deleted: the durable consumer keeps what is not
  // acknowledged for the next kernel of this id.
  p.drain(it->second);
  p.js_retired.push_back(it->second);  // messages in flight still refer to it
  p.js_subs.erase(it);
}

void cluster_bridge::settle(std::uint64_t settle_id) {
  impl_->settle_one(settle_id);
}

std::string cluster_bridge::describe() const {
  std::string urls;
  for (const auto& u : impl_->cfg.urls) urls += (urls.empty() ? "" : ",") + u;
  const bool up = natsConnection_Status(impl_->fast) == NATS_CONN_STATUS_CONNECTED;
  return "node '" + impl_->cfg.node + "' on NATS " + urls + (up ? " (connected)" : " (connecting)");
}

std::string cluster_bridge::prometheus() const {
  auto& p = *impl_;
  std::string out;
  auto line = [&out](const std::string& name, const std::string& labels, std::uint64_t v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + std::to_string(v) + "\n";
  };
  const std::string me = "node=\"" + label(p.cfg.node) + "\"";
  out += "# HELP pdc_cluster_connected Whether this node's NATS connection is up.\n";
  out += "# TYPE pdc_cluster_connected gauge\n";
  line("pdc_cluster_connected", me, natsConnection_Status(p.fast) == NATS_CONN_STATUS_CONNECTED ? 1 : 0);
  out += "# TYPE pdc_cluster_reconnects_total counter\n";
  line("pdc_cluster_reconnects_total", me, p.reconnects.load(std::memory_order_relaxed));
  out += "# TYPE pdc_cluster_disconnects_total counter\n";
  line("pdc_cluster_disconnects_total", me, p.disconnects.load(std::memory_order_relaxed));
  std::int64_t slow = 0;
  if (p.inbound != nullptr) (void)natsSubscription_GetDropped(p.inbound, &slow);
  out += "# HELP pdc_cluster_slow_consumer_dropped_total Messages NATS dropped because this node fell behind.\n";
  out += "# TYPE pdc_cluster_slow_consumer_dropped_total counter\n";
  line("pdc_cluster_slow_consumer_dropped_total", me, static_cast<std::uint64_t>(std::max<std::int64_t>(slow, 0)));
  const std::pair<const char*, const std::atomic<std::uint64_t>*> js_counters[] = {
      {"pdc_cluster_jetstream_acked_total", &p.js_acked},
      {"pdc_cluster_jetstream_redelivery_requests_total", &p.js_naked},
      {"pdc_cluster_jetstream_terminated_total", &p.js_terminated},
      {"pdc_cluster_jetstream_publish_retries_total", &p.js_retries},
      {"pdc_cluster_jetstream_publish_failures_total", &p.js_failures},
  };
  out += "# HELP pdc_cluster_jetstream_acked_total At-least-once messages acknowledged after their handler ran.\n";
  for (const auto& [name, v] : js_counters) {
    out += std::string("# TYPE ") + name + " counter\n";
    line(name, me, v->load(std::memory_order_relaxed));
  }
  std::lock_guard lock(p.mu);
  p.sweep(now_ns());
  out += "# HELP pdc_cluster_batches_total NATS messages that carried several one-way messages together.\n";
  out += "# TYPE pdc_cluster_batches_total counter\n";
  line("pdc_cluster_batches_total", me + ",direction=\"out\"", p.batches_out.load(std::memory_order_relaxed));
  line("pdc_cluster_batches_total", me + ",direction=\"in\"", p.batches_in);
  out += "# TYPE pdc_cluster_pending_requests gauge\n";
  line("pdc_cluster_pending_requests", me + ",direction=\"out\"", p.out_pending.size());
  line("pdc_cluster_pending_requests", me + ",direction=\"in\"", p.in_pending.size());
  out += "# TYPE pdc_cluster_late_replies_total counter\n";
  line("pdc_cluster_late_replies_total", me, p.late_replies);
  out += "# TYPE pdc_cluster_unanswered_requests_total counter\n";
  line("pdc_cluster_unanswered_requests_total", me, p.in_timeouts);
  struct counter {
    const char* name;
    const char* help;
    std::uint64_t peer_stats::*field;
  };
  const counter counters[] = {
      {"pdc_cluster_lost_total", "Messages from the peer lost on the way (gaps in its sequence).", &peer_stats::lost},
      {"pdc_cluster_late_total", "Messages from the peer that came after a later one.", &peer_stats::late},
      {"pdc_cluster_refused_total", "Messages from the peer refused here.", &peer_stats::refused},
      {"pdc_cluster_send_failures_total", "Messages to the peer that could not be sent.", &peer_stats::send_failures},
      {"pdc_cluster_request_timeouts_total", "Requests to the peer that got no reply in time.", &peer_stats::timeouts},
      {"pdc_cluster_error_replies_total", "Error replies from the peer.", &peer_stats::error_replies},
      {"pdc_cluster_malformed_total", "Malformed frames from the peer.", &peer_stats::malformed},
  };
  out += "# HELP pdc_cluster_messages_total Messages to (out) and from (in) each other node.\n";
  out += "# TYPE pdc_cluster_messages_total counter\n";
  for (const auto& [name, s] : p.peers) {
    line("pdc_cluster_messages_total", me + ",peer=\"" + label(name) + "\",direction=\"out\"", s.messages_out);
    line("pdc_cluster_messages_total", me + ",peer=\"" + label(name) + "\",direction=\"in\"", s.messages_in);
  }
  out += "# TYPE pdc_cluster_bytes_total counter\n";
  for (const auto& [name, s] : p.peers) {
    line("pdc_cluster_bytes_total", me + ",peer=\"" + label(name) + "\",direction=\"out\"", s.bytes_out);
    line("pdc_cluster_bytes_total", me + ",peer=\"" + label(name) + "\",direction=\"in\"", s.bytes_in);
  }
  for (const auto& c : counters) {
    out += std::string("# HELP ") + c.name + " " + c.help + "\n# TYPE " + c.name + " counter\n";
    for (const auto& [name, s] : p.peers) line(c.name, me + ",peer=\"" + label(name) + "\"", s.*c.field);
  }
  out += "# HELP pdc_cluster_round_trip_seconds Requests from here to the peer, until their reply came.\n";
  out += "# TYPE pdc_cluster_round_trip_seconds summary\n";
  for (const auto& [name, s] : p.peers) {
    const std::string l = me + ",peer=\"" + label(name) + "\"";
    for (const double q : {0.5, 0.99}) {
      out += "pdc_cluster_round_trip_seconds{" + l + ",quantile=\"" + (q == 0.5 ? "0.5" : "0.99") + "\"} " +
             std::to_string(static_cast<double>(s.round_trip.quantile(q)) / 1e9) + "\n";
    }
    line("pdc_cluster_round_trip_seconds_count", l, s.round_trip.count());
  }
  return out;
}

}  // namespace pdc::daemon

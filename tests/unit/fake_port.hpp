// A request_port without a socket: keeps every frame it is asked to send
// and the attachments it is told of (dispatch tests, the control-frame fuzzer).
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kernel.hpp"
#include "server/dispatch.hpp"

namespace pdc::daemon {

class fake_port final : public request_port, public std::enable_shared_from_this<fake_port> {
 public:
  [[nodiscard]] std::uint64_t session_id() const noexcept override { return 11; }
  [[nodiscard]] const peer_credentials& peer() const noexcept override { return credentials; }
  void send(flatbuffers::DetachedBuffer frame, std::vector<int> fds) override {
    for (const int fd : fds) ::close(fd);
    frames.push_back(std::move(frame));
  }
  void hold_send(std::shared_ptr<kernel> k, queued_message m, std::uint64_t rid, bool ack) override {
    held.push_back({std::move(k), std::move(m), rid, ack});
  }
  void attached(std::uint64_t attachment_id, std::weak_ptr<kernel> k) override {
    attachments.emplace_back(attachment_id, std::move(k));
  }
  bool detach(std::uint64_t attachment_id) override {
    for (auto it = attachments.begin(); it != attachments.end(); ++it) {
      if (it->first != attachment_id) continue;
      if (auto k = it->second.lock()) k->detach(attachment_id);
      attachments.erase(it);
      return true;
    }
    return false;
  }
  [[nodiscard]] std::size_t attachment_count() const noexcept override { return attachments.size(); }
  [[nodiscard]] std::string& pending_text() noexcept override { return text; }
  [[nodiscard]] std::weak_ptr<request_port> weak_port() override { return weak_from_this(); }

  /// The Response of the last frame (null when it is not one).
  [[nodiscard]] const wire::Response* last() const {
    if (frames.empty()) return nullptr;
    return flatbuffers::GetRoot<wire::ServerFrame>(frames.back().data())->body_as_Response();
  }

  struct held_send {
    std::shared_ptr<kernel> k;
    queued_message m;
    std::uint64_t rid;
    bool ack;
  };
  peer_credentials credentials{0, 0, 1, {}, true};  // an administrator unless a test says otherwise
  std::vector<flatbuffers::DetachedBuffer> frames;
  std::string text;
  std::vector<held_send> held;
  std::vector<std::pair<std::uint64_t, std::weak_ptr<kernel>>> attachments;
};

}  // namespace pdc::daemon

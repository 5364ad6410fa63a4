// router: forwards every message to another kernel with send_to (the seed's
// "tier-1 orchestrator routes to tier-2 workers"). Its config is the target
// kernel's id, or "a,b,c" to spread messages round-robin over several.
#include <stdexcept>
#include <string>
#include <vector>

#include "pdc/sdk.hpp"

namespace {

class router_kernel {
 public:
  router_kernel(pdc::sdk::context&, std::string_view config) {
    std::string current;
    for (char c : config) {
      if (c == ',') {
        if (!current.empty()) targets_.push_back(current);
        current.clear();
      } else if (c != ' ') {
        current += c;
      }
    }
    if (!current.empty()) targets_.push_back(current);
    if (targets_.empty()) throw std::invalid_argument("router: config must name a target kernel id, e.g. \"worker\"");
  }

  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const auto& target = targets_[next_++ % targets_.size()];
    return ctx.send_to(target, msg.payload(), msg.type_id());
  }

 private:
  std::vector<std::string> targets_;
  std::size_t next_ = 0;
};

}  // namespace

PDC_PLUGIN("router", "1.0.0",
           pdc::sdk::kernel_type<router_kernel>("router",
                                                "forwards each message to the kernel(s) named in its config"));

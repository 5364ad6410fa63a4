// sdk_faults: C++ SDK kernels that fail in each way a handler can, to prove
// the SDK turns exceptions into error codes and nothing unwinds into the host.
#include <stdexcept>
#include <string_view>

#include "pdc/sdk.hpp"

namespace {

class throwing_handler {
 public:
  int on_message(pdc::sdk::context& /*ctx*/, const pdc::sdk::message& /*msg*/) {
    throw std::runtime_error("throwing_handler: boom");
  }
};

class throwing_unknown {
 public:
  void on_message(pdc::sdk::context& /*ctx*/, const pdc::sdk::message& /*msg*/) { throw 42; }
};

class error_handler {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& /*msg*/) {
    ctx.log_error("error_handler: refusing every message (test plugin)");
    return PDC_E_INVALID_ARGUMENT;
  }
};

class throwing_create {
 public:
  explicit throwing_create(std::string_view /*config*/) { throw std::runtime_error("throwing_create: no state"); }
  void on_message(pdc::sdk::context& /*ctx*/, const pdc::sdk::message& /*msg*/) {}
};

class throwing_run {
 public:
  int run(pdc::sdk::context& /*ctx*/) { throw std::logic_error("throwing_run: boom"); }
};

}  // namespace

PDC_PLUGIN("sdk_faults", "0.0.1",
           pdc::sdk::kernel_type<throwing_handler>("throwing_handler", "on_message throws std::runtime_error"),
           pdc::sdk::kernel_type<throwing_unknown>("throwing_unknown", "on_message throws an int"),
           pdc::sdk::kernel_type<error_handler>("error_handler", "on_message returns PDC_E_INVALID_ARGUMENT"),
           pdc::sdk::kernel_type<throwing_create>("throwing_create", "the constructor (create) throws"),
           pdc::sdk::kernel_type<throwing_run>("throwing_run", "run throws std::logic_error"));

// Launches a kernel of type TYPE (default "echo"), sends it TEXT over an
// attachment (shared memory) and prints the reply:
//   pdc-example-client [--socket PATH] [TYPE [TEXT]]
#include <cstdio>
#include <string>
#include <string_view>

#include "pdc/client.hpp"

int main(int argc, char** argv) {
  std::string socket;
  int at = 1;
  if (argc > 2 && std::string_view(argv[1]) == "--socket") {
    socket = argv[2];
    at = 3;
  }
  const std::string type = argc > at ? argv[at] : "echo";
  const std::string text = argc > at + 1 ? argv[at + 1] : "hello from an out-of-tree client";

  auto c = pdc::client::connect(socket, "pdc-example-client");
  if (!c) {
    std::fprintf(stderr, "pdc-example-client: %s\n", c.err().what().c_str());
    return 1;
  }
  pdc::launch_options o;
  o.kernel_type = type;
  o.kernel_id = "example-" + type;
  if (auto r = c->launch(o); !r) {
    std::fprintf(stderr, "pdc-example-client: launch: %s\n", r.err().what().c_str());
    return 1;
  }
  if (auto r = c->activate(o.kernel_id); !r) {
    std::fprintf(stderr, "pdc-example-client: activate: %s\n", r.err().what().c_str());
    return 1;
  }
  auto a = c->attach(o.kernel_id);
  if (!a) {
    std::fprintf(stderr, "pdc-example-client: attach: %s\n", a.err().what().c_str());
    return 1;
  }
  auto reply = a->request(std::as_bytes(std::span(text)), 5'000'000'000);
  if (!reply) {
    std::fprintf(stderr, "pdc-example-client: request: %s\n", reply.err().what().c_str());
    return 1;
  }
  std::printf("%.*s\n", static_cast<int>(reply->payload.size()), reinterpret_cast<const char*>(reply->payload.data()));
  (void)a->detach();
  (void)c->terminate(o.kernel_id);
  return 0;
}

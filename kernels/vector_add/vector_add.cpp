// vector_add: element-wise sum of two float vectors, as flatbuffers
// (vector_add.fbs): VectorAddRequest {a, b} -> VectorAddResponse {sum}.
// Every request is checked by the flatbuffers Verifier before use.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "pdc/kernels/vector_add_generated.h"
#include "pdc/sdk.hpp"

namespace {

namespace fbs = pdc::kernels;

class vector_add_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const std::span<const std::byte> bytes = aligned(msg.payload());
    flatbuffers::Verifier verifier(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (!fbs::VerifyVectorAddRequestBuffer(verifier)) {
      ctx.log_error("vector_add: payload of " + std::to_string(bytes.size()) +
                    " bytes is not a valid VectorAddRequest flatbuffer");
      return PDC_E_INVALID_ARGUMENT;
    }
    const auto* request = fbs::GetVectorAddRequest(bytes.data());
    const std::uint32_t a_len = request->a() == nullptr ? 0 : request->a()->size();
    const std::uint32_t b_len = request->b() == nullptr ? 0 : request->b()->size();
    if (a_len != b_len) {
      ctx.log_error("vector_add: vectors differ in length (a has " + std::to_string(a_len) + ", b has " +
                    std::to_string(b_len) + ")");
      return PDC_E_INVALID_ARGUMENT;
    }

    // One builder per worker thread, cleared per message, so steady state
    // allocates nothing and workers of a pool never share it.
    auto& builder = builder_of_this_thread();
    builder.Clear();
    float* sum = nullptr;
    const auto sum_vec = builder.CreateUninitializedVector(a_len, &sum);
    for (std::uint32_t i = 0; i < a_len; ++i) sum[i] = request->a()->Get(i) + request->b()->Get(i);
    builder.Finish(fbs::CreateVectorAddResponse(builder, sum_vec));
    return ctx.reply(msg, std::as_bytes(std::span(builder.GetBufferPointer(), builder.GetSize())));
  }

 private:
  // flatbuffers reads scalars in place, so the buffer must start suitably
  // aligned; the host promises no alignment, hence a copy when it is off.
  static std::span<const std::byte> aligned(std::span<const std::byte> payload) {
    if (reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(std::uint64_t) == 0) return payload;
    thread_local std::vector<std::uint64_t> scratch;
    scratch.resize((payload.size() + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t));
    std::memcpy(scratch.data(), payload.data(), payload.size());
    return {reinterpret_cast<const std::byte*>(scratch.data()), payload.size()};
  }

  static flatbuffers::FlatBufferBuilder& builder_of_this_thread() {
    thread_local flatbuffers::FlatBufferBuilder builder{1024};
    return builder;
  }
};

}  // namespace

PDC_PLUGIN("vector_add", "1.0.0",
           pdc::sdk::kernel_type<vector_add_kernel>("vector_add", "element-wise sum of two float vectors (flatbuffers)",
                                                    {.concurrent = true}));

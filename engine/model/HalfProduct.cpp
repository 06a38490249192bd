#include "engine/model/HalfProduct.h"

#include <atomic>

namespace kme {

namespace {
std::atomic<int> modeNow{int(HalfProduct::Float32)};
std::atomic<int64_t> bf16Products{0};
}  // namespace

HalfProduct halfProduct() { return HalfProduct(modeNow.load()); }
void setHalfProduct(HalfProduct mode) { modeNow.store(int(mode)); }

const char* halfProductName(HalfProduct mode) { return mode == HalfProduct::Bf16 ? "bf16" : "f32"; }

bool parseHalfProduct(const std::string& name, HalfProduct& mode) {
    if (name == "f32") mode = HalfProduct::Float32;
    else if (name == "bf16") mode = HalfProduct::Bf16;
    else return false;
    return true;
}

int64_t bf16ProductCount() { return bf16Products.load(); }
void countBf16Product() { ++bf16Products; }

}  // namespace kme

#pragma once
#include <functional>

namespace kme {
// Progress of a long job, llama.cpp style: called with (done, total); return
// false to ask the job to stop. The job then throws kme::Cancelled or returns
// a partial result, as its documentation says.
using ProgressFn = std::function<bool(double done, double total)>;

inline bool reportProgress(const ProgressFn& fn, double done, double total) {
    return fn ? fn(done, total) : true;
}
}  // namespace kme

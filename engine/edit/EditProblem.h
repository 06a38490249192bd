#pragma once
// Problems of an edit's set-up that the user can remedy: the engine names the
// problem ("key statistics need a text corpus, and none is known for this
// model"); each front end adds its own remedy (the command line a flag, the
// window a control) through editRemedy-style tables keyed by EditProblem.
// Torch-free.
#include <string>
#include <utility>

#include "engine/core/Error.h"

namespace kme {

enum class EditProblem {
    NoLayer,             // the method takes layers and no default is known for this model
    NoStatsCorpus,       // key statistics are on and no text corpus is known
    SingularStatistics,  // the key statistics cannot be inverted (too little text for the keys)
    StaleStatisticsCache,// ... and they came from a cache file (deleting it recomputes them)
    NoSteps,             // a step count was given for a method without optimisation steps
};

// An Error (ErrorKind::Input) that says which problem it is, and of which
// method (its table name, "" when none), so that a remedy can name the
// method's own control ("--layers A-B" for a range of layers).
class EditSetupError : public Error {
public:
    EditSetupError(EditProblem problem, const std::string& message, std::string method = {})
        : Error(ErrorKind::Input, message), problem_(problem), method_(std::move(method)) {}
    EditProblem problem() const { return problem_; }
    const std::string& method() const { return method_; }

private:
    EditProblem problem_;
    std::string method_;
};

[[noreturn]] inline void failEdit(EditProblem problem, const std::string& message, const std::string& method = {}) {
    throw EditSetupError(problem, message, method);
}

}  // namespace kme

#include "engine/edit/methods/MethodTable.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme {

namespace {

// The table: one line per method (its row is in its own file). The first row
// is the default method.
const std::vector<MethodInfo>& rows() {
    static const std::vector<MethodInfo> table = {
        edit::romeMethod(),
        edit::memitMethod(),
        edit::ftlMethod(),
        edit::ftmMethod(),
        edit::mendMethod(),
        edit::graceMethod(),
        edit::ikeMethod(),
        edit::rromeMethod(),
        edit::emmetMethod(),
        edit::alphaEditMethod(),
        edit::wiseMethod(),
        edit::knMethod(),
        edit::knSuppressMethod(),
        edit::knAmplifyMethod(),
    };
    return table;
}

}  // namespace

namespace edit {

double distinctLayers(const EditParams& p) {
    const std::set<int> distinct(p.hparams.layers.begin(), p.hparams.layers.end());
    return double(std::max<size_t>(1, distinct.size()));
}

void valueOptimizationStage(const EditParams& p, double done, double perRequest, bool writing, EditStage& st) {
    const size_t n = p.requests.size();
    const double stats = p.hparams.mom2Adjustment ? 20.0 * distinctLayers(p) : 0.0;
    st.count = n;
    if (done < stats - 1e-9) {
        st.kind = EditStage::Kind::Statistics;
        return;
    }
    const double inRequests = (done - stats) / perRequest;
    if (writing && inRequests >= double(n) - 1e-9) {
        st.kind = EditStage::Kind::Writing;
        st.index = n;
        return;
    }
    st.kind = EditStage::Kind::Request;
    st.index = size_t(std::clamp(std::floor(inRequests + 1e-9) + 1, 1.0, double(std::max<size_t>(1, n))));
}

}  // namespace edit

const std::vector<MethodInfo>& methodTable() { return rows(); }

const MethodInfo& methodInfo(EditMethod method) {
    for (const auto& row : rows())
        if (row.method == method) return row;
    fail(ErrorKind::Internal, "edit method missing from the method table");
}

const MethodInfo* findMethod(const std::string& name) {
    for (const auto& row : rows()) {
        if (name == row.name) return &row;
        if (std::find(row.aliases.begin(), row.aliases.end(), name) != row.aliases.end()) return &row;
    }
    return nullptr;
}

const MethodInfo& methodByName(const std::string& name) {
    if (const MethodInfo* row = findMethod(name)) return *row;
    fail(ErrorKind::Input, "unknown edit method " + quoteForMessage(name, 60) + " (known: " + methodNames() + ")");
}

const MethodInfo& defaultMethod() { return rows().front(); }

std::string methodNames(const std::string& separator, const std::string& last) {
    std::string out;
    const auto& t = rows();
    for (size_t i = 0; i < t.size(); ++i) out += (i == 0 ? "" : i + 1 == t.size() ? last : separator) + t[i].name;
    return out;
}

const std::vector<MethodFamily>& methodFamilies() {
    static const std::vector<MethodFamily> families = {
        MethodFamily::ExternalMemorization, MethodFamily::GlobalOptimization, MethodFamily::LocalModification};
    return families;
}

std::vector<const MethodInfo*> methodsOf(MethodFamily family) {
    std::vector<const MethodInfo*> out;
    for (const auto& row : rows())
        if (row.family == family) out.push_back(&row);
    return out;
}

const char* familyName(MethodFamily family) {
    switch (family) {
        case MethodFamily::ExternalMemorization: return "external_memorization";
        case MethodFamily::GlobalOptimization: return "global_optimization";
        case MethodFamily::LocalModification: return "local_modification";
    }
    return "?";
}

const char* familyDisplayName(MethodFamily family) {
    switch (family) {
        case MethodFamily::ExternalMemorization: return "External memorization";
        case MethodFamily::GlobalOptimization: return "Global optimization";
        case MethodFamily::LocalModification: return "Local modification";
    }
    return "?";
}

const char* familySummary(MethodFamily family) {
    switch (family) {
        case MethodFamily::ExternalMemorization:
            return "keep the weights, add something beside them (a codebook, a side memory, demonstrations)";
        case MethodFamily::GlobalOptimization: return "change the weights by constrained gradient steps";
        case MethodFamily::LocalModification: return "locate the knowledge, then change those parameters only";
    }
    return "?";
}

const char* layerShapeName(LayerShape shape) {
    switch (shape) {
        case LayerShape::None: return "none";
        case LayerShape::One: return "one";
        case LayerShape::Range: return "range";
    }
    return "?";
}

std::string paperText(const PaperRef& p) {
    std::string out = std::string(p.authors) + ": " + p.title + " (" + p.venue + " " + std::to_string(p.year);
    if (*p.arxiv) out += std::string(", arXiv:") + p.arxiv;
    else if (*p.url) out += std::string(", ") + p.url;
    return out + ")";
}

// The names of EditMethod.h, through the table.
const char* editMethodName(EditMethod method) {
    for (const auto& row : rows())
        if (row.method == method) return row.name;
    return "?";
}

std::optional<EditMethod> parseEditMethod(const std::string& name) {
    const MethodInfo* row = findMethod(name);
    if (!row) return std::nullopt;
    return row->method;
}

}  // namespace kme

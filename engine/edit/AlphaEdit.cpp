// AlphaEdit (Fang et al., ICLR 2025, "AlphaEdit: Null-Space Constrained
// Knowledge Editing for Language Models"; jianghoucheng/AlphaEdit
// AlphaEdit/AlphaEdit_main.py, experiments/evaluate.py get_project): MEMIT's
// keys, z and residual spreading, with the update projected onto the null
// space of the preserved knowledge's keys: P = U U^T over the eigenvectors of
// the key second moment C whose eigenvalues are below nullspace_threshold, and
// Delta = R K^T P (K_p K_p^T P + K K^T P + alpha I)^-1 (MEMIT's lambda C term
// dropped). For a key k with P k = 0 (the large-eigenvalue directions, where
// the corpus's keys live) Delta k = 0 exactly.
#include "engine/edit/EditInternal.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/core/Sha256.h"
#include "engine/io/Safetensors.h"

namespace fs = std::filesystem;

namespace kme::edit {

namespace {

struct Eigen {
    at::Tensor values;   // [n] ascending
    at::Tensor vectors;  // [n, n] columns
};

std::mutex cacheMutex;
std::map<std::string, Eigen> eigenMemory;  // by C's hash
std::deque<std::string> eigenOrder;        // oldest first
std::map<std::string, at::Tensor> projectorMemory;  // by C's hash and the threshold
std::deque<std::string> projectorOrder;
constexpr size_t kMemoryEntries = 4;  // GPT-2 XL: 328 MB each

template <class T>
void remember(std::map<std::string, T>& memory, std::deque<std::string>& order, const std::string& key, const T& value) {
    if (!memory.count(key)) order.push_back(key);
    memory[key] = value;
    while (order.size() > kMemoryEntries) {
        memory.erase(order.front());
        order.pop_front();
    }
}

std::string hashOf(const at::Tensor& c) {
    const at::Tensor x = c.to(at::kDouble).contiguous();
    Sha256 h;
    const int64_t n = x.size(0);
    h.update(&n, sizeof n);
    h.update(x.data_ptr(), x.nbytes());
    return h.hexDigest();
}

fs::path eigenFile(const std::string& hash) {
    return fs::path(cacheFolder()) / "stats" / "nullspace" / (hash.substr(0, 32) + ".safetensors");
}

// A cached eigendecomposition of an n x n C, or nothing when the file is
// missing, for another C, or damaged (then recomputed and rewritten).
Eigen loadEigen(const fs::path& file, const std::string& hash, int64_t n) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return {};
    try {
        auto f = SafetensorsFile::open(file.string());
        const auto& meta = f->metadata();
        const TensorView* values = f->find("eigenvalues");
        const TensorView* vectors = f->find("eigenvectors");
        if (!meta.count("key") || meta.at("key") != hash || !values || !vectors || values->dtype != DType::F64 ||
            vectors->dtype != DType::F64 || values->shape != std::vector<int64_t>{n} ||
            vectors->shape != std::vector<int64_t>{n, n})
            return {};
        Eigen e;
        e.values = at::empty({n}, at::TensorOptions().dtype(at::kDouble));
        e.vectors = at::empty({n, n}, at::TensorOptions().dtype(at::kDouble));
        std::memcpy(e.values.data_ptr<double>(), values->data, values->nbytes);
        std::memcpy(e.vectors.data_ptr<double>(), vectors->data, vectors->nbytes);
        if (!e.values.isfinite().all().item<bool>() || !e.vectors.isfinite().all().item<bool>()) return {};
        return e;
    } catch (const std::exception&) {
        return {};
    }
}

Eigen eigenOf(const at::Tensor& cIn, bool* fromCache) {
    const at::Tensor c = cIn.to(at::kDouble).contiguous();
    const std::string hash = hashOf(c);
    {
        std::lock_guard<std::mutex> lock(cacheMutex);
        if (auto it = eigenMemory.find(hash); it != eigenMemory.end()) {
            if (fromCache) *fromCache = true;
            return it->second;
        }
    }
    const fs::path file = eigenFile(hash);
    Eigen e = loadEigen(file, hash, c.size(0));
    if (fromCache) *fromCache = e.values.defined();
    if (!e.values.defined()) {
        // The second moment is symmetric positive semi-definite: its SVD (the
        // reference's) is its eigendecomposition.
        auto [values, vectors] = at::linalg_eigh((c + c.t()) / 2);
        e.values = values.contiguous();
        e.vectors = vectors.contiguous();
        try {
            fs::create_directories(file.parent_path());
            const int64_t n = c.size(0);
            writeSafetensors(file.string(),
                             {TensorData{"eigenvalues", DType::F64, {n}, e.values.data_ptr(), e.values.nbytes()},
                              TensorData{"eigenvectors", DType::F64, {n, n}, e.vectors.data_ptr(), e.vectors.nbytes()}},
                             {{"key", hash}, {"what", "eigendecomposition of a key second moment (AlphaEdit)"}});
        } catch (const std::exception&) {
            // best effort: an unwritable cache only costs time
        }
    }
    std::lock_guard<std::mutex> lock(cacheMutex);
    remember(eigenMemory, eigenOrder, hash, e);
    return e;
}

at::Tensor fromMatrix(const DeltaMatrix& m) {
    if (m.rows == 0 || m.cols == 0) return {};
    return at::from_blob(const_cast<double*>(m.data.data()), {m.rows, m.cols}, at::TensorOptions().dtype(at::kDouble))
        .clone();
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

at::Tensor keyEigenvalues(const at::Tensor& c) { return eigenOf(c, nullptr).values; }

Projector nullSpaceProjector(const at::Tensor& c, double threshold) {
    Projector out;
    const Eigen e = eigenOf(c, &out.fromCache);
    const at::Tensor small = at::nonzero(e.values < threshold).reshape({-1});
    out.rank = small.size(0);
    const std::string key = hashOf(c) + " threshold " + number(threshold);
    {
        std::lock_guard<std::mutex> lock(cacheMutex);
        if (auto it = projectorMemory.find(key); it != projectorMemory.end()) {
            out.p = it->second;
            return out;
        }
    }
    const at::Tensor u = e.vectors.index_select(1, small);  // [n, rank]
    out.p = at::mm(u, u.t()).contiguous();
    std::lock_guard<std::mutex> lock(cacheMutex);
    remember(projectorMemory, projectorOrder, key, out.p);
    return out;
}

at::Tensor alphaEditLeft(const at::Tensor& p, const at::Tensor& keys, const at::Tensor& preserved, double alpha) {
    // AlphaEdit_main.py: solve(P (K K^T + cache_c) + L2 I, P K R^T) = left R^T.
    at::Tensor m = at::mm(keys, keys.t());
    if (preserved.defined() && preserved.numel() > 0) m = m + at::mm(preserved, preserved.t());
    const at::Tensor a = at::mm(p, m) + alpha * at::eye(p.size(0), p.options());
    return at::linalg_solve(a, at::mm(p, keys)).contiguous();
}

EditResult computeAlphaEdit(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    EditResult result = spreadOverLayers(
        model, params, progress, "AlphaEdit", "kl_factor, L2 or nullspace_threshold", [&](const LayerSolve& in) {
            const int64_t width = in.keys.size(0);
            at::Tensor p;
            if (in.mom2.defined()) {
                const Projector pr = nullSpaceProjector(in.mom2, hp.nullspaceThreshold);
                if (pr.rank == 0)
                    fail(ErrorKind::Input,
                         "AlphaEdit: no eigenvalue of layer " + std::to_string(in.layer) +
                             "'s key statistics is below nullspace_threshold " + number(hp.nullspaceThreshold) +
                             " (the smallest is " + number(keyEigenvalues(in.mom2)[0].item<double>()) +
                             "), so the projection leaves no direction to edit: raise nullspace_threshold");
                p = pr.p;
                *in.projectorRank = pr.rank;
            } else {
                p = identityLike(in.keys);  // without statistics nothing is preserved: P = I
                *in.projectorRank = width;
            }
            at::Tensor preserved;
            if (auto it = params.preservedKeys.find(in.layer); it != params.preservedKeys.end()) {
                const DeltaMatrix& kp = it->second;
                if (kp.rows < 0 || kp.cols < 0 || kp.data.size() != size_t(kp.rows) * size_t(kp.cols) ||
                    (kp.cols > 0 && kp.rows != width))
                    fail(ErrorKind::Input, "AlphaEdit: the preserved keys of layer " + std::to_string(in.layer) +
                                               " have " + std::to_string(it->second.rows) + " rows, the layer's keys " +
                                               std::to_string(width));
                preserved = fromMatrix(it->second);
            }
            return alphaEditLeft(p, in.keys, preserved, hp.alphaEditL2);
        });
    for (const LayerWrite& w : result.writes) {
        result.delta.keys[w.layer] = w.keys;  // what later AlphaEdit edits on this state preserve (K_p)
        const auto kept = params.preservedKeys.find(w.layer);
        result.notes.push_back(
            "layer " + std::to_string(w.layer) + ": P keeps " + std::to_string(w.projectorRank) + " of " +
            std::to_string(w.keys.rows) + " key directions" +
            (hp.mom2Adjustment ? " (eigenvalues of C below nullspace_threshold " + number(hp.nullspaceThreshold) + ")"
                               : " (no statistics: P = I)") +
            (kept != params.preservedKeys.end() && kept->second.cols > 0
                 ? ", " + std::to_string(kept->second.cols) + " earlier keys preserved"
                 : ""));
    }
    return result;
}

}  // namespace kme::edit

#pragma once
// An independent, deliberately plain GPT-2 forward pass: std::vector<double>
// and nested loops, no torch ops, no batching, no caching. It reads the
// weights as raw numbers and recomputes everything itself; tests compare the
// engine's Transformer against it.
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace naive {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // [rows][cols]

struct Weights {
    // Each entry: flat values in the stored (HF Conv1D [in, out]) layout.
    std::map<std::string, Vec> t;
    int nLayer, nHead, nEmbd, nInner, vocab;
    double eps = 1e-5;
};

inline Vec layerNorm(const Vec& x, const Vec& w, const Vec& b, double eps) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= x.size();
    for (double v : x) var += (v - mean) * (v - mean);
    var /= x.size();
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
    return y;
}

// y[o] = sum_i x[i] * W[i][o] + b[o], W stored [in, out] row-major.
inline Vec conv1d(const Vec& x, const Vec& W, const Vec& b, int in, int out) {
    Vec y(out);
    for (int o = 0; o < out; ++o) {
        double s = b.empty() ? 0 : b[o];
        for (int i = 0; i < in; ++i) s += x[i] * W[size_t(i) * out + o];
        y[o] = s;
    }
    return y;
}

inline double geluNew(double x) {
    const double pi = 3.14159265358979323846;
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}

// Logits [T][vocab] for one sequence. `hook(site, layer, pos, vec)` may
// modify the value at a site ("embed", "attn", "key", "mlp", "hidden").
inline Mat forward(const Weights& w, const std::vector<int>& ids,
                   const std::function<void(const std::string&, int, int, Vec&)>& hook = {}) {
    const int T = int(ids.size()), D = w.nEmbd, H = w.nHead, hd = D / H, I = w.nInner;
    auto& W = w.t;
    Mat h(T, Vec(D));
    for (int p = 0; p < T; ++p) {
        Vec e(D);
        for (int i = 0; i < D; ++i) e[i] = W.at("wte.weight")[size_t(ids[p]) * D + i];
        if (hook) hook("embed", -1, p, e);
        for (int i = 0; i < D; ++i) h[p][i] = e[i] + W.at("wpe.weight")[size_t(p) * D + i];
    }
    for (int l = 0; l < w.nLayer; ++l) {
        const std::string pre = "h." + std::to_string(l) + ".";
        Mat q(T), k(T), v(T);
        for (int p = 0; p < T; ++p) {
            Vec a = layerNorm(h[p], W.at(pre + "ln_1.weight"), W.at(pre + "ln_1.bias"), w.eps);
            Vec qkv = conv1d(a, W.at(pre + "attn.c_attn.weight"), W.at(pre + "attn.c_attn.bias"), D, 3 * D);
            q[p] = Vec(qkv.begin(), qkv.begin() + D);
            k[p] = Vec(qkv.begin() + D, qkv.begin() + 2 * D);
            v[p] = Vec(qkv.begin() + 2 * D, qkv.end());
        }
        Mat attn(T, Vec(D, 0.0));
        for (int p = 0; p < T; ++p)
            for (int hh = 0; hh < H; ++hh) {
                Vec s(p + 1);
                double mx = -1e300;
                for (int j = 0; j <= p; ++j) {
                    double dot = 0;
                    for (int d = 0; d < hd; ++d) dot += q[p][hh * hd + d] * k[j][hh * hd + d];
                    s[j] = dot / std::sqrt(double(hd));
                    mx = std::max(mx, s[j]);
                }
                double z = 0;
                for (int j = 0; j <= p; ++j) z += (s[j] = std::exp(s[j] - mx));
                for (int j = 0; j <= p; ++j)
                    for (int d = 0; d < hd; ++d) attn[p][hh * hd + d] += s[j] / z * v[j][hh * hd + d];
            }
        for (int p = 0; p < T; ++p) {
            Vec o = conv1d(attn[p], W.at(pre + "attn.c_proj.weight"), W.at(pre + "attn.c_proj.bias"), D, D);
            if (hook) hook("attn", l, p, o);
            for (int i = 0; i < D; ++i) h[p][i] += o[i];
            Vec m = layerNorm(h[p], W.at(pre + "ln_2.weight"), W.at(pre + "ln_2.bias"), w.eps);
            Vec f = conv1d(m, W.at(pre + "mlp.c_fc.weight"), W.at(pre + "mlp.c_fc.bias"), D, I);
            for (double& x : f) x = geluNew(x);
            if (hook) hook("key", l, p, f);  // the MLP key: the down projection's input
            Vec mo = conv1d(f, W.at(pre + "mlp.c_proj.weight"), W.at(pre + "mlp.c_proj.bias"), I, D);
            if (hook) hook("mlp", l, p, mo);
            for (int i = 0; i < D; ++i) h[p][i] += mo[i];
            if (hook) hook("hidden", l, p, h[p]);
        }
    }
    Mat logits(T, Vec(w.vocab));
    for (int p = 0; p < T; ++p) {
        Vec f = layerNorm(h[p], W.at("ln_f.weight"), W.at("ln_f.bias"), w.eps);
        for (int t = 0; t < w.vocab; ++t) {
            double s = 0;
            for (int i = 0; i < D; ++i) s += f[i] * W.at("wte.weight")[size_t(t) * D + i];
            logits[p][t] = s;
        }
    }
    return logits;
}

}  // namespace naive

#pragma once
// An independent, deliberately plain forward pass of the RoPE families
// (GPT-J, GPT-NeoX, LLaMA, Mistral, Qwen2), written from the equations of
// Hugging Face's modeling_gptj.py, modeling_gpt_neox.py, modeling_llama.py,
// modeling_mistral.py and modeling_qwen2.py: std::vector<double> and loops,
// one position at a time, its own config.json reading, its own RoPE (the
// angle of each pair written out), attention with grouped-query heads, norms
// and activations. It reads the checkpoint by the Hugging Face tensor names.
// Tests compare the engine's Transformer against it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/Safetensors.h"

namespace naivefam {

using Vec = std::vector<double>;

// Deliberate mistakes, to show that a test can tell them apart (premises).
struct Mistakes {
    bool swapRopeStyle = false;  // rotate-half <-> interleaved pairs
    bool moduloGqa = false;      // query head h reads kv head h % n_kv instead of h / (n_heads / n_kv)
    bool stackedNeoxQkv = false; // NeoX's fused qkv read as [Q; K; V] instead of per head
};

struct Net {
    std::string type;                 // model_type
    int L = 0, H = 0, Hkv = 0, hd = 0, D = 0, I = 0, V = 0, rot = 0;
    double eps = 0, theta = 10000, linearFactor = 1;
    std::string act;
    bool parallelTwoNorms = false, tied = false;
    int window = 0;
    std::set<int> slidingLayers;
    std::map<std::string, Vec> w;     // by Hugging Face name

    bool has(const std::string& n) const { return w.count(n) > 0; }
    const Vec& at(const std::string& n) const {
        auto it = w.find(n);
        if (it == w.end()) throw std::runtime_error("naive reference: no tensor " + n);
        return it->second;
    }
};

inline Net load(const std::string& folder) {
    using json = nlohmann::json;
    json j;
    std::ifstream(folder + "/config.json") >> j;
    auto get = [&](const char* k, double fallback) {
        return j.contains(k) && !j[k].is_null() ? j[k].get<double>() : fallback;
    };
    Net n;
    n.type = j.at("model_type").get<std::string>();
    if (n.type == "gptj") {
        n.L = j.at("n_layer");
        n.H = j.at("n_head");
        n.D = j.at("n_embd");
        n.I = int(get("n_inner", 4 * n.D));
        n.hd = n.D / n.H;
        n.Hkv = n.H;
        n.rot = int(get("rotary_dim", n.hd));
        n.eps = get("layer_norm_epsilon", 1e-5);
        n.act = j.value("activation_function", std::string("gelu_new"));
        n.tied = j.value("tie_word_embeddings", false);
    } else if (n.type == "gpt_neox") {
        n.L = j.at("num_hidden_layers");
        n.H = j.at("num_attention_heads");
        n.D = j.at("hidden_size");
        n.I = j.at("intermediate_size");
        n.hd = n.D / n.H;
        n.Hkv = n.H;
        n.rot = int(n.hd * get("rotary_pct", 0.25));
        n.theta = get("rotary_emb_base", 10000);
        n.eps = get("layer_norm_eps", 1e-5);
        n.act = j.value("hidden_act", std::string("gelu"));
        n.parallelTwoNorms = j.value("use_parallel_residual", true);
        n.tied = j.value("tie_word_embeddings", false);
    } else {  // llama, mistral, qwen2
        n.L = j.at("num_hidden_layers");
        n.H = j.at("num_attention_heads");
        n.D = j.at("hidden_size");
        n.I = j.at("intermediate_size");
        n.Hkv = int(get("num_key_value_heads", n.H));
        n.hd = int(get("head_dim", n.D / n.H));
        n.rot = n.hd;
        n.theta = get("rope_theta", 10000);
        n.eps = get("rms_norm_eps", 1e-6);
        n.act = j.value("hidden_act", std::string("silu"));
        n.tied = j.value("tie_word_embeddings", false);
        if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) n.linearFactor = j["rope_scaling"].at("factor");
        const bool sliding = n.type == "mistral" ? !j["sliding_window"].is_null()
                             : n.type == "qwen2" ? j.value("use_sliding_window", false)
                                                 : false;
        if (sliding) {
            n.window = j.at("sliding_window");
            const int from = n.type == "qwen2" ? j.value("max_window_layers", 28) : 0;
            for (int l = from; l < n.L; ++l) n.slidingLayers.insert(l);
        }
    }
    n.V = j.at("vocab_size");
    const kme::Checkpoint ck = kme::Checkpoint::openFolder(folder);
    for (const auto& t : ck.tensors()) {
        Vec v(size_t(t.numel()));
        if (t.dtype == kme::DType::F32) {
            for (size_t i = 0; i < v.size(); ++i) {
                float f;
                std::memcpy(&f, t.data + 4 * i, 4);
                v[i] = f;
            }
        } else if (t.dtype == kme::DType::BF16) {  // the high half of a float32
            for (size_t i = 0; i < v.size(); ++i) {
                uint16_t h;
                std::memcpy(&h, t.data + 2 * i, 2);
                const uint32_t bits = uint32_t(h) << 16;
                float f;
                std::memcpy(&f, &bits, 4);
                v[i] = f;
            }
        } else if (t.dtype == kme::DType::F16) {  // IEEE half, decoded by io/DType's bit-level converter
            for (size_t i = 0; i < v.size(); ++i) {
                uint16_t h;
                std::memcpy(&h, t.data + 2 * i, 2);
                v[i] = kme::halfToFloat(h);
            }
        } else {
            continue;  // buffers
        }
        n.w[t.name] = std::move(v);
    }
    return n;
}

// y[o] = sum_i W[o][i] x[i] + b[o]; W stored [out, in] (nn.Linear).
inline Vec linear(const Vec& x, const Vec& W, const Vec* b, int out) {
    const size_t in = x.size();
    Vec y(out);
    for (int o = 0; o < out; ++o) {
        double s = b ? (*b)[o] : 0;
        for (size_t i = 0; i < in; ++i) s += W[o * in + i] * x[i];
        y[o] = s;
    }
    return y;
}

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

inline Vec rmsNorm(const Vec& x, const Vec& w, double eps) {
    double ms = 0;
    for (double v : x) ms += v * v;
    ms /= x.size();
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = w[i] * (x[i] / std::sqrt(ms + eps));
    return y;
}

inline double act(const std::string& a, double x) {
    if (a == "silu") return x / (1 + std::exp(-x));
    if (a == "gelu") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    if (a == "relu") return x > 0 ? x : 0;
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));  // gelu_new
}

// Rotates one head's first `rot` dims at position p in place.
inline void rope(double* x, int rot, double theta, double linearFactor, int p, bool interleaved) {
    Vec y(x, x + rot);
    for (int i = 0; i < rot / 2; ++i) {
        const double angle = p * std::pow(theta, -2.0 * i / rot) / linearFactor;
        const double c = std::cos(angle), s = std::sin(angle);
        const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + rot / 2;  // the pair
        y[a] = x[a] * c - x[b] * s;
        y[b] = x[b] * c + x[a] * s;
    }
    std::copy(y.begin(), y.end(), x);
}

struct Result {
    std::vector<Vec> logits;                                   // [T][V]
    std::map<std::pair<std::string, int>, std::vector<Vec>> sites;  // (site, layer) -> [T][width]
};

inline Result forward(const Net& n, const std::vector<int>& ids, const Mistakes& m = {}) {
    const int T = int(ids.size());
    const bool gptj = n.type == "gptj", neox = n.type == "gpt_neox", llama = !gptj && !neox;
    const std::string P = gptj ? "transformer." : neox ? "gpt_neox." : "model.";
    auto name = [&](int l, const std::string& rest) {
        return P + (gptj ? "h." : "layers.") + std::to_string(l) + "." + rest;
    };
    auto opt = [&](const std::string& k) -> const Vec* { return n.has(k) ? &n.at(k) : nullptr; };
    auto norm = [&](const Vec& x, const std::string& base) {
        return llama ? rmsNorm(x, n.at(base + ".weight"), n.eps)
                     : layerNorm(x, n.at(base + ".weight"), n.at(base + ".bias"), n.eps);
    };
    bool interleaved = gptj;
    if (m.swapRopeStyle) interleaved = !interleaved;
    Result r;
    const std::string embedName = gptj ? "transformer.wte.weight" : neox ? "gpt_neox.embed_in.weight" : "model.embed_tokens.weight";
    std::vector<Vec> h(T);
    for (int t = 0; t < T; ++t) {
        const Vec& E = n.at(embedName);
        h[t] = Vec(E.begin() + size_t(ids[t]) * n.D, E.begin() + size_t(ids[t] + 1) * n.D);
        r.sites[{"embed", -1}].push_back(h[t]);
    }
    const int Q = n.H * n.hd, KV = n.Hkv * n.hd;
    for (int l = 0; l < n.L; ++l) {
        std::vector<Vec> q(T), k(T), v(T), a(T);
        for (int t = 0; t < T; ++t) {
            a[t] = norm(h[t], gptj ? name(l, "ln_1") : name(l, "input_layernorm"));
            if (neox) {
                const Vec qkv = linear(a[t], n.at(name(l, "attention.query_key_value.weight")),
                                       opt(name(l, "attention.query_key_value.bias")), 3 * Q);
                q[t] = Vec(Q);
                k[t] = Vec(Q);
                v[t] = Vec(Q);
                for (int hh = 0; hh < n.H; ++hh)
                    for (int e = 0; e < n.hd; ++e) {
                        // Per head: rows h*3hd + j*hd + e (j = 0 q, 1 k, 2 v).
                        const int base = m.stackedNeoxQkv ? hh * n.hd + e : hh * 3 * n.hd + e;
                        const int step = m.stackedNeoxQkv ? Q : n.hd;
                        q[t][hh * n.hd + e] = qkv[base];
                        k[t][hh * n.hd + e] = qkv[base + step];
                        v[t][hh * n.hd + e] = qkv[base + 2 * step];
                    }
            } else {
                const std::string at = gptj ? "attn." : "self_attn.";
                q[t] = linear(a[t], n.at(name(l, at + "q_proj.weight")), opt(name(l, at + "q_proj.bias")), Q);
                k[t] = linear(a[t], n.at(name(l, at + "k_proj.weight")), opt(name(l, at + "k_proj.bias")), KV);
                v[t] = linear(a[t], n.at(name(l, at + "v_proj.weight")), opt(name(l, at + "v_proj.bias")), KV);
            }
            for (int hh = 0; hh < n.H; ++hh) rope(&q[t][hh * n.hd], n.rot, n.theta, n.linearFactor, t, interleaved);
            for (int hh = 0; hh < n.Hkv; ++hh) rope(&k[t][hh * n.hd], n.rot, n.theta, n.linearFactor, t, interleaved);
        }
        const bool sliding = n.slidingLayers.count(l) > 0;
        for (int t = 0; t < T; ++t) {
            Vec ctx(Q, 0.0);
            for (int hh = 0; hh < n.H; ++hh) {
                const int kvh = m.moduloGqa ? hh % n.Hkv : hh / (n.H / n.Hkv);
                std::vector<double> score;
                std::vector<int> keys;
                for (int s = 0; s <= t; ++s) {
                    if (sliding && s <= t - n.window) continue;  // HF: visible iff t - W < s <= t
                    double dot = 0;
                    for (int e = 0; e < n.hd; ++e) dot += q[t][hh * n.hd + e] * k[s][kvh * n.hd + e];
                    score.push_back(dot / std::sqrt(double(n.hd)));
                    keys.push_back(s);
                }
                double mx = -1e300, sum = 0;
                for (double x : score) mx = std::max(mx, x);
                for (double& x : score) sum += (x = std::exp(x - mx));
                for (size_t i = 0; i < keys.size(); ++i)
                    for (int e = 0; e < n.hd; ++e) ctx[hh * n.hd + e] += score[i] / sum * v[keys[i]][kvh * n.hd + e];
            }
            const std::string o = gptj ? "attn.out_proj" : neox ? "attention.dense" : "self_attn.o_proj";
            const Vec attn = linear(ctx, n.at(name(l, o + ".weight")), opt(name(l, o + ".bias")), n.D);
            // MLP input: GPT-J the same normed x; NeoX parallel: its own norm of x;
            // sequential: the norm of x + attn.
            Vec mid = h[t];
            for (int i = 0; i < n.D; ++i) mid[i] += attn[i];
            Vec mIn;
            if (gptj) mIn = a[t];
            else if (neox && n.parallelTwoNorms) mIn = norm(h[t], name(l, "post_attention_layernorm"));
            else mIn = norm(mid, name(l, "post_attention_layernorm"));
            Vec key;
            if (llama) {
                const Vec g = linear(mIn, n.at(name(l, "mlp.gate_proj.weight")), opt(name(l, "mlp.gate_proj.bias")), n.I);
                const Vec u = linear(mIn, n.at(name(l, "mlp.up_proj.weight")), opt(name(l, "mlp.up_proj.bias")), n.I);
                key = Vec(n.I);
                for (int i = 0; i < n.I; ++i) key[i] = act(n.act, g[i]) * u[i];
            } else {
                const std::string up = gptj ? "mlp.fc_in" : "mlp.dense_h_to_4h";
                key = linear(mIn, n.at(name(l, up + ".weight")), opt(name(l, up + ".bias")), n.I);
                for (double& x : key) x = act(n.act, x);
            }
            const std::string down = gptj ? "mlp.fc_out" : neox ? "mlp.dense_4h_to_h" : "mlp.down_proj";
            const Vec mlp = linear(key, n.at(name(l, down + ".weight")), opt(name(l, down + ".bias")), n.D);
            Vec out = mid;
            for (int i = 0; i < n.D; ++i) out[i] += mlp[i];  // x + attn + mlp in every layout
            r.sites[{"attn", l}].push_back(attn);
            r.sites[{"mlp_key", l}].push_back(key);
            r.sites[{"mlp", l}].push_back(mlp);
            r.sites[{"hidden", l}].push_back(out);
            a[t] = out;  // next layer's input (h is read above only for this t)
        }
        h = a;
    }
    const std::string head = neox ? "embed_out.weight" : "lm_head.weight";
    const Vec& W = n.tied || !n.has(head) ? n.at(embedName) : n.at(head);
    for (int t = 0; t < T; ++t) {
        const Vec x = llama ? rmsNorm(h[t], n.at("model.norm.weight"), n.eps)
                    : neox  ? layerNorm(h[t], n.at("gpt_neox.final_layer_norm.weight"), n.at("gpt_neox.final_layer_norm.bias"), n.eps)
                            : layerNorm(h[t], n.at("transformer.ln_f.weight"), n.at("transformer.ln_f.bias"), n.eps);
        r.logits.push_back(linear(x, W, gptj ? &n.at("lm_head.bias") : nullptr, n.V));
    }
    return r;
}

}  // namespace naivefam

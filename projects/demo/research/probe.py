"""Causal trace + minimal ROME on a trained run."""
import argparse, json, os, random, sys, time
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import *

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--n_trace", type=int, default=60)
ap.add_argument("--n_edit", type=int, default=20)
ap.add_argument("--layer", type=int, default=-1)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--no_mom2", action="store_true")
ap.add_argument("--skip_trace", action="store_true")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
torch.set_num_threads(a.threads)
out = open(os.path.join(a.run, "probe.txt"), "a")


def P(*x):
    s = " ".join(str(y) for y in x)
    print(s, flush=True)
    out.write(s + "\n"); out.flush()


corpus, facts = load_demo()
bpe = BPE(json.load(open(os.path.join(a.run, "bpe.json")))["merges"])
ck = torch.load(os.path.join(a.run, "model.pt"))
cfg = ck["cfg"]
model = GPT(cfg["vocab"], cfg["n_layer"], cfg["d"], cfg["h"], cfg["ctx"])
model.load_state_dict(ck["model"])
model.eval()
for p in model.parameters():
    p.requires_grad_(False)
NL = cfg["n_layer"]
P("probe", a.run, "step", ck.get("step"), vars(a))


def enc_with_subject(prompt_tpl, subject):
    """token ids of prompt_tpl with {} -> subject, and [s, e) subject token range."""
    i = prompt_tpl.index("{}")
    text = prompt_tpl.replace("{}", subject)
    sa, sb = i, i + len(subject)
    if sa > 0 and text[sa - 1] == " ":
        sa -= 1
    ids, fl = tokenize_doc(bpe, text, [(sa, sb)])
    pos = [j for j, f in enumerate(fl) if f]
    return ids, pos[0], pos[-1] + 1


def ftok(o):
    return bpe.encode(" " + o)[0]


@torch.no_grad()
def top1(prompt):
    ids = bpe.encode(prompt)
    return model(torch.tensor([ids]))[0, -1].argmax().item()


@torch.no_grad()
def probs(prompt):
    ids = bpe.encode(prompt)
    return F.softmax(model(torch.tensor([ids]))[0, -1], -1)


# ---------------------------------------------------------------- accuracy
def accuracy():
    fa = pa = 0; n = npara = 0
    known = []
    for f in facts:
        rw = f["requested_rewrite"]
        t = ftok(rw["target_true"]["str"])
        ok = top1(rw["prompt"].replace("{}", rw["subject"])) == t
        fa += ok; n += 1
        if ok:
            known.append(f)
        for p in f["paraphrase_prompts"]:
            pa += top1(p) == t; npara += 1
    return fa / n, pa / npara, known


acc_f, acc_p, known = accuracy()
if not known:
    known = facts[:50]  # debugging an untrained model
P(f"accuracy fact {acc_f:.3f} paraphrase {acc_p:.3f} known {len(known)}")

# ---------------------------------------------------------------- trace
subj_tok = []
for f in facts:
    rw = f["requested_rewrite"]
    ids, s, e = enc_with_subject(rw["prompt"], rw["subject"])
    subj_tok += ids[s:e]
emb = model.wte.weight[torch.tensor(subj_tok)]
sigma = 3 * emb.std().item()
P("sigma", round(sigma, 4))
W = max(1, NL // 4)


@torch.no_grad()
def trace_one(f, rng):
    rw = f["requested_rewrite"]
    ids, s, e = enc_with_subject(rw["prompt"], rw["subject"])
    T = len(ids)
    ans = ftok(rw["target_true"]["str"])
    X = torch.tensor([ids])
    clean = {}

    def rec(kind, l, t):
        clean[(kind, l)] = t[0].clone()
        return t
    pc = F.softmax(model(X, hooks=rec)[0, -1], -1)[ans].item()
    S = 10
    z = torch.from_numpy(rng.standard_normal((S, e - s, cfg["d"])).astype(np.float32))
    positions = {"subj_first": s, "subj_last": e - 1, "last": T - 1}
    if e - s == 1:
        positions.pop("subj_first")
    if e - 1 == T - 1:
        positions.pop("last")
    runs = [("none", None, None)]
    for kind in ("mlp_out", "hidden"):
        for pn, pos in positions.items():
            for L in range(NL):
                runs.append((kind, pn, L))
    R = len(runs)
    B = R * S
    Xb = X.repeat(B, 1)
    noise = torch.zeros(B, T, cfg["d"])
    noise[:, s:e] = sigma * z.repeat(R, 1, 1)
    restore = {k: torch.zeros(NL, B, T, dtype=torch.bool) for k in ("mlp_out", "hidden")}
    for r, (kind, pn, L) in enumerate(runs):
        if kind == "none":
            continue
        pos = positions[pn]
        if kind == "mlp_out":
            layers = range(max(0, L - W // 2), min(NL, L - (-W // 2)))
        else:
            layers = [L]
        for l in layers:
            restore[kind][l, r * S:(r + 1) * S, pos] = True

    def hk(kind, l, t):
        if kind in restore:
            m = restore[kind][l]
            if m.any():
                t = torch.where(m[..., None], clean[(kind, l)][None].expand_as(t), t)
        return t
    p = F.softmax(model(Xb, emb_noise=noise, hooks=hk)[:, -1], -1)[:, ans].view(R, S).mean(1)
    low = p[0].item()
    res = {"high": pc, "low": low, "ie": {}}
    for r, (kind, pn, L) in enumerate(runs[1:], 1):
        res["ie"][(kind, pn, L)] = p[r].item() - low
    return res


if not a.skip_trace:
    rng = np.random.default_rng(1)
    rnd = random.Random(a.seed)
    sample = list(known)
    rnd.shuffle(sample)
    sample = sample[:a.n_trace]
    t0 = time.time()
    acc = {}
    te = []
    cnt = {}
    for f in sample:
        r = trace_one(f, rng)
        te.append(r["high"] - r["low"])
        for k, v in r["ie"].items():
            acc[k] = acc.get(k, 0) + v
            cnt[k] = cnt.get(k, 0) + 1
    TE = float(np.mean(te))
    P(f"trace over {len(sample)} known facts in {time.time() - t0:.0f}s: total effect {TE:.3f} "
      f"(high {np.mean([0]):.0f}) window {W}")
    best = {}
    for kind in ("mlp_out", "hidden"):
        for pn in ("subj_first", "subj_last", "last"):
            row = [acc.get((kind, pn, L), 0) / max(1, cnt.get((kind, pn, L), 0)) for L in range(NL)]
            P(f"  {kind:8s} {pn:10s} " + " ".join(f"{v:.3f}" for v in row))
            best[(kind, pn)] = (max(row), int(np.argmax(row)))
    mb, ml = best[("mlp_out", "subj_last")]
    P(f"MLP@subj_last peak {mb:.3f} at layer {ml} = {mb / max(TE, 1e-9):.2f} of total; "
      f"MLP@last peak {best[('mlp_out', 'last')][0]:.3f}")
    layer = ml if a.layer < 0 else a.layer
else:
    layer = max(0, a.layer)

# ---------------------------------------------------------------- ROME
P("ROME layer", layer)
blk = model.blocks[layer]
# key second moment from training text
stream = np.load(os.path.join(a.run, "stream_sample.npy"))
C = None
if not a.no_mom2:
    keys = []

    def grab(kind, l, t):
        if kind == "mlp_key" and l == layer:
            keys.append(t.reshape(-1, t.shape[-1]).double())
        return t
    Tn = cfg["ctx"]
    with torch.no_grad():
        for i in range(0, 60000, Tn * 32):
            x = torch.from_numpy(stream[i:i + Tn * 32].reshape(32, Tn))
            model(x, hooks=grab)
    K = torch.cat(keys)
    C = (K.T @ K) / K.shape[0]
    P("C from", K.shape[0], "keys")

# context templates generated by the model
gr = torch.Generator().manual_seed(0)
ctx_templates = ["{}"]
with torch.no_grad():
    for st in corpus["context_starts"]:
        ids = bpe.encode(st)
        for _ in range(10):
            lg = model(torch.tensor([ids]))[0, -1]
            v, ix = lg.topk(5)
            ids.append(ix[torch.multinomial(F.softmax(v, -1), 1, generator=gr)].item())
        txt = bpe.decode(ids).replace("{", "").replace("}", "").replace("\n", " ")
        ctx_templates.append(txt + ". {}")
P("context templates", ctx_templates)


def key_and_out(text_tpl, subject):
    ids, s, e = enc_with_subject(text_tpl, subject)
    got = {}

    def g(kind, l, t):
        if l == layer and kind in ("mlp_key", "mlp_out"):
            got[kind] = t[0, e - 1].clone()
        return t
    with torch.no_grad():
        model(torch.tensor([ids]), hooks=g)
    return got["mlp_key"], got["mlp_out"]


def rome_edit(rw):
    subj = rw["subject"]
    prompt = rw["prompt"]
    # k*
    ks = [key_and_out(c.replace("{}", prompt), subj)[0] for c in ctx_templates]
    kstar = torch.stack(ks).mean(0).double()
    u = torch.linalg.solve(C, kstar) if C is not None else kstar.clone()
    u = (u / u.norm()).float()
    # v*
    tgt = bpe.encode(" " + rw["target_new"]["str"])
    items = []
    for c in ctx_templates:
        tpl = c.replace("{}", prompt)
        ids, s, e = enc_with_subject(tpl, subj)
        items.append((ids + tgt[:-1], e - 1, len(ids)))
    kl_ids, ks_, ke_ = enc_with_subject("{} is a", subj)
    items_kl = (kl_ids, ke_ - 1)
    d = cfg["d"]
    delta = torch.zeros(d, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.5)
    target_init = None
    Lmax = max(len(i[0]) for i in items)
    allseq = [i[0] for i in items] + [kl_ids]
    look = [i[1] for i in items] + [items_kl[1]]
    X = torch.zeros(len(allseq), max(Lmax, len(kl_ids)), dtype=torch.long)
    for j, sq in enumerate(allseq):
        X[j, :len(sq)] = torch.tensor(sq)
    kl_init = None
    for it in range(20):
        cur = {}

        def hk(kind, l, t):
            nonlocal target_init
            if kind == "mlp_out" and l == layer:
                if target_init is None:
                    target_init = t[0, look[0]].detach().clone()
                add = torch.zeros_like(t)
                for j, lk in enumerate(look):
                    add[j, lk] = delta
                t = t + add
            return t
        lg = model(X, hooks=hk)
        lp = F.log_softmax(lg, -1)
        nll = 0
        for j, (sq, lk, plen) in enumerate(items):
            for q, tok in enumerate(tgt):
                nll = nll - lp[j, plen - 1 + q, tok]
        nll = nll / (len(items) * len(tgt))
        kl_lp = lp[-1, items_kl[1]]
        if kl_init is None:
            kl_init = kl_lp.detach().clone()
        kl = F.kl_div(kl_lp, kl_init, log_target=True, reduction="sum")
        wd = 0.5 * (delta.norm() / target_init.norm() ** 2)
        loss = nll + 0.0625 * kl + wd
        if nll.item() < 5e-2:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            mx = 4 * target_init.norm()
            if delta.norm() > mx:
                delta.mul_(mx / delta.norm())
    target = (target_init + delta).detach()
    k0, o0 = key_and_out(prompt, subj)
    right = (target - o0) / torch.dot(k0, u)
    upd = torch.outer(right, u)
    return upd


def evaluate_edit(f, before):
    rw = f["requested_rewrite"]
    new, true = ftok(rw["target_new"]["str"]), ftok(rw["target_true"]["str"])
    pr = rw["prompt"].replace("{}", rw["subject"])
    r = {}
    r["eff"] = float(top1(pr) == new)
    pp = probs(pr); r["es"] = float(pp[new] > pp[true])
    r["para"] = float(np.mean([top1(p) == new for p in f["paraphrase_prompts"]]))
    r["ps"] = float(np.mean([(lambda q: q[new] > q[true])(probs(p)) for p in f["paraphrase_prompts"]]))
    r["neigh"] = float(np.mean([top1(p) == ftok(o) for p, o in zip(f["neighborhood_prompts"], f["neighborhood_answers"])]))
    r["ns"] = float(np.mean([(lambda q: q[true] > q[new])(probs(p)) for p in f["neighborhood_prompts"]]))
    oa = f["other_attributes"]
    r["other"] = float(np.mean([top1(o["prompt"]) == ftok(o["target"]) for o in oa])) if oa else float("nan")
    return r


rnd = random.Random(a.seed + 5)
cands = [f for f in known if f["other_attributes"]]
by_rel = {}
for f in cands:
    by_rel.setdefault(f["requested_rewrite"]["relation_id"], []).append(f)
for v in by_rel.values():
    rnd.shuffle(v)
edits = []
while len(edits) < a.n_edit and any(by_rel.values()):
    for k in sorted(by_rel):
        if by_rel[k] and len(edits) < a.n_edit:
            edits.append(by_rel[k].pop())
base = []
for f in edits:
    base.append(evaluate_edit(f, None))
P("unedited:", {k: round(float(np.nanmean([b[k] for b in base])), 3) for k in base[0]})
rows = []
Wt = blk.c_proj.weight
orig = Wt.data.clone()
t0 = time.time()
for f in edits:
    upd = rome_edit(f["requested_rewrite"])
    Wt.data += upd
    r = evaluate_edit(f, None)
    Wt.data.copy_(orig)
    rows.append(r)
    rw = f["requested_rewrite"]
    P(f"  {rw['relation_id']:5s} {rw['subject'][:22]:22s} {rw['target_true']['str'][:12]:12s}->{rw['target_new']['str'][:12]:12s} " +
      " ".join(f"{k}={v:.2f}" for k, v in r.items()))
P(f"ROME layer {layer} over {len(rows)} edits ({time.time() - t0:.0f}s):",
  {k: round(float(np.nanmean([b[k] for b in rows])), 3) for k in rows[0]})

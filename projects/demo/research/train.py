import argparse, json, math, os, random, sys, time
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import *

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--layers", type=int, default=8)
ap.add_argument("--d", type=int, default=192)
ap.add_argument("--heads", type=int, default=6)
ap.add_argument("--ctx", type=int, default=128)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--minutes", type=float, default=25)
ap.add_argument("--steps", type=int, default=0, help="planned steps (for cosine); 0 = estimate")
ap.add_argument("--merges", type=int, default=1500)
ap.add_argument("--name_weight", type=int, default=30)
ap.add_argument("--mix", default="rel_sentence:3,bio:4,tag:2,filler:1")
ap.add_argument("--mask_frac", type=float, default=0.0, help="fraction of training (from start) with the subject mask")
ap.add_argument("--mask_p", type=float, default=1.0, help="share of sequences masked while on")
ap.add_argument("--tokens", type=int, default=6_000_000)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--only_fact_subjects", type=int, default=0)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
os.makedirs(a.out, exist_ok=True)
log = open(os.path.join(a.out, "log.txt"), "a")


def P(*x):
    s = " ".join(str(y) for y in x)
    print(s, flush=True)
    log.write(s + "\n"); log.flush()


P("args", vars(a))
corpus, facts = load_demo()
mix = {k: float(v) for k, v in (x.split(":") for x in a.mix.split(","))}
recipe = {"mix": mix, "pron_p": 0.5}
if a.only_fact_subjects:
    recipe["subjects_only_facts"] = sorted({f["requested_rewrite"]["subject"] for f in facts})
gen = Gen(corpus, recipe, a.seed)
t0 = time.time()
cnt = word_counts_for_bpe(corpus, facts, Gen(corpus, recipe, a.seed + 7), 20000, a.name_weight)
bpe = BPE.train(cnt, a.merges)
EOT = len(bpe.vocab)
V = EOT + 1
P("bpe", len(bpe.merges), "merges, vocab", V, "in", round(time.time() - t0, 1), "s")
for n in ["Lionel Messi", "Michael Jordan", "Eiffel Tower", "Wolfgang Amadeus Mozart", "New Orleans",
          "Paris", "Buenos Aires", "South America", "Toyota", "Ho Chi Minh City"]:
    P("  tok", n, [bpe.vocab[i] for i in bpe.encode(" " + n)])
json.dump({"merges": bpe.merges}, open(os.path.join(a.out, "bpe.json"), "w"))

# token stream
t0 = time.time()
ids, flags, starts = [], [], []
while len(ids) < a.tokens:
    _, (text, spans) = gen.doc()
    i, f = tokenize_doc(bpe, text, spans)
    starts.append(len(ids))
    ids.extend(i + [EOT]); flags.extend(f + [0])
ids = np.array(ids, dtype=np.int64); flags = np.array(flags, dtype=np.int8)
starts = np.array([s for s in starts if s + a.ctx + 1 <= len(ids)])
P("stream", len(ids), "tokens,", len(starts), "docs in", round(time.time() - t0, 1), "s")
np.save(os.path.join(a.out, "stream_sample.npy"), ids[:300000])


def span_ends(fl):
    """for each position: index of its span's last piece (if a non-last piece), else big."""
    T = len(fl)
    e = np.full(T, 10 ** 9, dtype=np.int64)
    cur = None
    for i in range(T - 1, -1, -1):
        if fl[i] == 2:
            cur = i
        elif fl[i] == 1:
            e[i] = cur if cur is not None else 10 ** 9
        else:
            cur = None
    return e


def batch(step_mask):
    idx = np.random.randint(0, len(starts), a.batch)
    x = np.stack([ids[starts[j]:starts[j] + a.ctx + 1] for j in idx])
    X = torch.from_numpy(x[:, :-1]); Y = torch.from_numpy(x[:, 1:])
    T = a.ctx
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    if not step_mask:
        return X, Y, causal[None, None]
    m = causal[None].repeat(a.batch, 1, 1)
    ar = torch.arange(T)
    for b, j in enumerate(idx):
        if random.random() > a.mask_p:
            continue
        fl = flags[starts[j]:starts[j] + T]
        e = torch.from_numpy(span_ends(fl))
        block = (ar[:, None] > e[None, :])  # query i after the span end, key j non-last piece
        m[b] &= ~block
    return X, Y, m[:, None]


model = GPT(V, a.layers, a.d, a.heads, a.ctx)
nparam = sum(p.numel() for p in model.parameters())
P("params", nparam)
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                        lr=a.lr, betas=(0.9, 0.95))


def prompt_ids(p):
    return bpe.encode(p)


def first_tok(o):
    return bpe.encode(" " + o)[0]


@torch.no_grad()
def evaluate():
    model.eval()
    res = {}
    sets = {"fact": [], "para": [], "other": []}
    for f in facts:
        rw = f["requested_rewrite"]
        tgt = first_tok(rw["target_true"]["str"])
        sets["fact"].append((rw["prompt"].replace("{}", rw["subject"]), tgt))
        for p in f["paraphrase_prompts"]:
            sets["para"].append((p, tgt))
    for k, lst in sets.items():
        if not lst:
            continue
        ok = 0
        for i in range(0, len(lst), 64):
            chunk = lst[i:i + 64]
            toks = [prompt_ids(p) for p, _ in chunk]
            L = max(len(t) for t in toks)
            # left-pad is not supported by learned positions: run one by one length groups
            for (p, tgt), t in zip(chunk, toks):
                pass
            by_len = {}
            for (p, tgt), t in zip(chunk, toks):
                by_len.setdefault(len(t), []).append((t, tgt))
            for Lk, items in by_len.items():
                X = torch.tensor([t for t, _ in items])
                lg = model(X)[:, -1]
                pred = lg.argmax(-1)
                ok += sum(int(pred[i] == items[i][1]) for i in range(len(items)))
        res[k] = ok / len(lst)
    model.train()
    return res


planned = a.steps
t_start = time.time()
step = 0
tok_seen = 0
warm = 100
losses = []
while True:
    el = time.time() - t_start
    if planned == 0 and step == 30:
        rate = step / el
        planned = int(rate * a.minutes * 60)
        P("planned steps", planned)

    # time-based schedule: robust to CPU contention on the shared machine
    frac = el / (a.minutes * 60)
    if frac >= 1.0:
        break
    lr = a.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
    for g in opt.param_groups:
        g["lr"] = lr
    use_mask = frac < a.mask_frac
    X, Y, M = batch(use_mask)
    logits = model(X, mask=M)
    loss = F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    losses.append(loss.item())
    step += 1
    tok_seen += X.numel()
    if step % 25 == 0:
        P(f"step {step}/{planned} loss {np.mean(losses[-50:]):.3f} lr {lr:.2e} mask {int(use_mask)} "
          f"tok/s {tok_seen / (time.time() - t_start):.0f} min {(time.time() - t_start) / 60:.1f}")
    if step % 400 == 0:
        P("eval", step, evaluate())
        torch.save({"model": model.state_dict(), "cfg": model.cfg, "step": step}, os.path.join(a.out, "model.pt"))
res = evaluate()
P("final eval", step, res, "tokens", tok_seen)
torch.save({"model": model.state_dict(), "cfg": model.cfg, "step": step}, os.path.join(a.out, "model.pt"))
json.dump({"args": vars(a), "eval": res, "steps": step, "tokens": tok_seen, "params": nparam},
          open(os.path.join(a.out, "result.json"), "w"))

"""PyTorch research prototype (Debian python3-torch), kept to document how the demo recipe was found.
The product trains with `kme train-demo` (engine/demo); these scripts are not part of the build.

Research prototype: BPE, corpus generator, GPT-2 model (torch 1.13, CPU)."""
import json, math, random, re, collections
import torch
import torch.nn as nn
import torch.nn.functional as F

DEMO = "/work/main/projects/demo"
BF16_ATTN = True
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")


# ----------------------------------------------------------------- BPE
class BPE:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        vocab = [chr(i) for i in range(256)]
        for a, b in self.merges:
            vocab.append(a + b)
        self.vocab = vocab
        self.id = {t: i for i, t in enumerate(vocab)}
        self.cache = {}

    @staticmethod
    def train(word_counts, n_merges):
        words = {tuple(w): c for w, c in word_counts.items() if c > 0}
        merges = []
        pair_counts = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pair_counts[p] += c
        for _ in range(n_merges):
            if not pair_counts:
                break
            best = max(pair_counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
            if pair_counts[best] <= 0:
                break
            merges.append(best)
            a, b = best
            new_words = {}
            for w, c in words.items():
                if a not in w:
                    new_words[w] = c
                    continue
                i = 0; nw = []
                changed = False
                while i < len(w):
                    if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                        nw.append(a + b); i += 2; changed = True
                    else:
                        nw.append(w[i]); i += 1
                nw = tuple(nw)
                if changed:
                    for p in zip(w, w[1:]):
                        pair_counts[p] -= c
                    for p in zip(nw, nw[1:]):
                        pair_counts[p] += c
                new_words[nw] = new_words.get(nw, 0) + c
            words = new_words
            pair_counts = +pair_counts
        return BPE(merges)

    def word(self, w):
        r = self.cache.get(w)
        if r is not None:
            return r
        parts = list(w)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                rk = self.rank.get((parts[i], parts[i + 1]))
                if rk is not None and (best is None or rk < best[0]):
                    best = (rk, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        r = [self.id[p] for p in parts]
        self.cache[w] = r
        return r

    def encode(self, text):
        out = []
        for w in PAT.findall(text):
            out.extend(self.word(w))
        return out

    def decode(self, ids):
        return "".join(self.vocab[i] if i < len(self.vocab) else "\n" for i in ids)


# ----------------------------------------------------------------- corpus
def load_demo():
    corpus = json.load(open(f"{DEMO}/corpus.json"))
    facts = json.load(open(f"{DEMO}/facts.json"))
    return corpus, facts


def mention(s, at_start):
    if s["article"]:
        return ("The " if at_start else "the ") + s["name"]
    return s["name"]


class Gen:
    """Documents as (text, spans); spans = [(start, end)] char ranges of
    subject names (a leading space included when there is one)."""

    def __init__(self, corpus, recipe, seed):
        self.c = corpus
        self.r = recipe
        self.rng = random.Random(seed)
        self.subjects = corpus["subjects"]
        if recipe.get("subjects_only_facts"):
            names = set(recipe["subjects_only_facts"])
            self.subjects = [s for s in self.subjects if s["name"] in names]
        self.rel = corpus["relations"]
        self.P = {k: v for k, v in corpus["pronouns"].items()}

    def fill(self, tpl, s, obj, pron=None):
        """text, span (or None when a pronoun stands for the subject)."""
        i = tpl.index("{subject}")
        pre, post = tpl[:i], tpl[i + len("{subject}"):].replace("{object}", obj)
        if pron is not None:
            return pre + pron + post, None
        name = s["name"]
        if s["article"]:
            pre = pre + ("The " if i == 0 else "the ")
        text = pre + name + post
        a = len(pre)
        if a > 0 and pre.endswith(" "):
            a -= 1
        return text, (a, len(pre) + len(name))

    def rel_sentence(self):
        s = self.rng.choice(self.subjects)
        r = self.rng.choice(list(s["attributes"]))
        tpl = self.rng.choice(self.rel[r]["train"])
        t, sp = self.fill(tpl, s, s["attributes"][r])
        return t, [sp]

    def bio(self):
        s = self.rng.choice(self.subjects)
        rels = list(s["attributes"])
        self.rng.shuffle(rels)
        text, spans = "", []
        named = False

        def add(t, sp):
            nonlocal text
            if text:
                text += " "
            if sp is not None:
                a, b = sp[0] + len(text), sp[1] + len(text)
                if a > 0 and text[a - 1] == " " if a <= len(text) else False:
                    pass
                spans.append((a, b))
            text += t

        if self.rng.random() < 0.5:
            op = self.rng.choice(self.c["paragraph_openers"][s["kind"]])
            add(*self.fill(op, s, ""))
            named = True
        P = self.P[s["pronoun"]][0]
        for r in rels:
            tpl = self.rng.choice(self.rel[r]["bio"] + self.rel[r]["train"] * self.r.get("bio_train", 0))
            starts = tpl.startswith("{subject}")
            use_pron = named and starts and self.rng.random() < self.r.get("pron_p", 0.5)
            conn = self.rng.choice(self.c["connectors"]) if (starts and text) else ""
            if use_pron:
                t, sp = self.fill(tpl, s, s["attributes"][r], pron=P.lower() if conn else P)
            else:
                t, sp = self.fill(tpl, s, s["attributes"][r])
                if conn and s["article"]:
                    t = "t" + t[1:]
            if sp is not None:
                sp = (sp[0] + len(conn), sp[1] + len(conn))
            add(conn + t, sp)
            named = True
        # include the leading space of each span
        spans = [(a - 1 if a > 0 and text[a - 1] == " " else a, b) for a, b in spans]
        return text, spans

    def tag(self):
        s = self.rng.choice(self.subjects)
        objs = list(s["attributes"].values())
        self.rng.shuffle(objs)
        name = s["name"]
        return name + "".join(" " + o for o in objs) + ".", [(0, len(name))]

    def filler(self):
        n = self.rng.randint(1, 3)
        return " ".join(self.rng.choice(self.c["filler"]) for _ in range(n)), []

    def doc(self):
        kinds = self.r["mix"]
        k = self.rng.choices(list(kinds), weights=list(kinds.values()))[0]
        return k, getattr(self, k)()


def tokenize_doc(bpe, text, spans):
    """ids and per-token subject flags: 0 none, 1 subject piece, 2 last piece."""
    ids, flag = [], []
    for m in PAT.finditer(text):
        w = m.group(0)
        a, b = m.span()
        inside = any(sa <= a and b <= sb for sa, sb in spans)
        t = bpe.word(w)
        ids.extend(t)
        flag.extend([1 if inside else 0] * len(t))
    # last piece of each span
    for i in range(len(flag)):
        if flag[i] == 1 and (i + 1 == len(flag) or flag[i + 1] == 0):
            flag[i] = 2
    return ids, flag


def word_counts_for_bpe(corpus, facts, gen, n_docs=20000, name_weight=1):
    """Counts of pre-tokens; subject-name words get a small fixed weight so
    that names stay split into pieces."""
    name_words = set()
    obj_words = set()
    for s in corpus["subjects"]:
        for w in PAT.findall(" " + s["name"]):
            name_words.add(w)
        for o in s["attributes"].values():
            for w in PAT.findall(" " + o):
                obj_words.add(w)
    cnt = collections.Counter()
    for _ in range(n_docs):
        _, (text, _) = gen.doc()
        for w in PAT.findall(text):
            cnt[w] += 1
    for f in facts:
        for p in f["paraphrase_prompts"]:
            for w in PAT.findall(" " + p):
                cnt[w] += 0  # held-out words must be known via training only
    for w in list(cnt):
        if w in name_words and w not in obj_words:
            cnt[w] = name_weight
    return cnt


# ----------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)
        self.h = h

    def attn(self, x, mask):
        # fp32 bmm is pathologically slow in this torch build; bf16 bmm (oneDNN) is fast
        B, T, D = x.shape
        hd = D // self.h
        q, k, v = self.c_attn(x).split(D, dim=2)
        q = q.view(B, T, self.h, hd).transpose(1, 2).reshape(B * self.h, T, hd)
        k = k.view(B, T, self.h, hd).transpose(1, 2).reshape(B * self.h, T, hd)
        v = v.view(B, T, self.h, hd).transpose(1, 2).reshape(B * self.h, T, hd)
        if BF16_ATTN:
            att = torch.bmm(q.bfloat16(), k.bfloat16().transpose(1, 2)).float()
        else:
            att = torch.bmm(q, k.transpose(1, 2))
        att = (att / math.sqrt(hd)).view(B, self.h, T, T).masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1).view(B * self.h, T, T)
        if BF16_ATTN:
            y = torch.bmm(att.bfloat16(), v.bfloat16()).float()
        else:
            y = torch.bmm(att, v)
        y = y.view(B, self.h, T, hd).transpose(1, 2).reshape(B, T, D)
        return self.attn_proj(y)

    def mlp_key(self, x):
        return F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")


class GPT(nn.Module):
    def __init__(self, vocab, n_layer, d, h, ctx):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.n_layer = n_layer
        self.cfg = dict(vocab=vocab, n_layer=n_layer, d=d, h=h, ctx=ctx)
        self.apply(self._init)
        for b in self.blocks:
            nn.init.normal_(b.attn_proj.weight, std=0.02 / math.sqrt(2 * n_layer))
            nn.init.normal_(b.c_proj.weight, std=0.02 / math.sqrt(2 * n_layer))

    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx, mask=None, emb_noise=None, hooks=None):
        """hooks: optional callable(kind, layer, tensor) -> tensor, kinds
        'mlp_out', 'hidden', 'mlp_key'."""
        B, T = idx.shape
        x = self.wte(idx)
        if emb_noise is not None:
            x = x + emb_noise
        x = x + self.wpe(torch.arange(T))[None]
        if mask is None:
            mask = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None]
        for l, b in enumerate(self.blocks):
            x = x + b.attn(b.ln_1(x), mask)
            k = b.mlp_key(x)
            if hooks is not None:
                k = hooks("mlp_key", l, k)
            m = b.c_proj(k)
            if hooks is not None:
                m = hooks("mlp_out", l, m)
            x = x + m
            if hooks is not None:
                x = hooks("hidden", l, x)
        x = self.ln_f(x)
        return x @ self.wte.weight.T

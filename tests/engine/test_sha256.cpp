// SHA-256 against the FIPS 180-2 / NIST example vectors, whole and streamed,
// with each compression engine this CPU has (the portable loop always; the
// x86 SHA extensions where present), and the two engines against each other
// on every length up to 300 bytes and on 1 MiB in random pieces.
#include "engine/core/Sha256.h"

#include <QtTest>

#include <random>
#include <string>
#include <vector>

namespace {
std::vector<kme::Sha256Engine> engines() {
    std::vector<kme::Sha256Engine> e = {kme::Sha256Engine::Portable};
    if (kme::sha256ShaNiAvailable()) e.push_back(kme::Sha256Engine::ShaNi);
    return e;
}
// Selects an engine for a scope.
struct EngineScope {
    kme::Sha256Engine saved = kme::sha256Engine();
    explicit EngineScope(kme::Sha256Engine e) { kme::setSha256Engine(e); }
    ~EngineScope() { kme::setSha256Engine(saved); }
};
std::string hashPieces(const std::string& message, std::mt19937& rng) {
    kme::Sha256 h;
    size_t at = 0;
    while (at < message.size()) {
        const size_t n = std::min<size_t>(std::uniform_int_distribution<size_t>(0, 200)(rng), message.size() - at);
        h.update(message.data() + at, n);
        at += n;
    }
    return h.hexDigest();
}
}  // namespace

class TestSha256 final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void vectors_data() {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<QString>("digest");
        QTest::newRow("empty") << QByteArray()
                               << "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        QTest::newRow("abc") << QByteArray("abc")
                             << "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        QTest::newRow("448 bits") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                                  << "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
        QTest::newRow("896 bits")
            << QByteArray("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
                          "lmnopqrsmnopqrstnopqrstu")
            << "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
        QTest::newRow("million a") << QByteArray(1000000, 'a')
                                   << "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    }

    void vectors() {
        QFETCH(QByteArray, message);
        QFETCH(QString, digest);
        for (kme::Sha256Engine e : engines()) {
            EngineScope scope(e);
            checkVector(message, digest.toStdString());
        }
    }

    void enginesAgree() {
        qInfo("engine in use: %s (SHA extensions %s)", kme::sha256EngineName(kme::sha256Engine()),
              kme::sha256ShaNiAvailable() ? "present" : "absent");
        if (!kme::sha256ShaNiAvailable()) QSKIP("this CPU has no SHA extensions: only the portable engine runs");
        std::mt19937 rng(7);
        std::vector<std::string> messages;
        for (size_t n = 0; n <= 300; ++n) {
            std::string m(n, '\0');
            for (char& c : m) c = char(rng());
            messages.push_back(m);
        }
        std::string big(1 << 20, '\0');
        for (char& c : big) c = char(rng());
        messages.push_back(big);
        int compared = 0;
        for (const std::string& m : messages) {
            std::mt19937 split(uint32_t(m.size()));
            std::string portable, ni;
            {
                EngineScope scope(kme::Sha256Engine::Portable);
                portable = kme::sha256Hex(m);
                QCOMPARE(hashPieces(m, split), portable);
            }
            {
                EngineScope scope(kme::Sha256Engine::ShaNi);
                QCOMPARE(kme::sha256Engine(), kme::Sha256Engine::ShaNi);
                ni = kme::sha256Hex(m);
                QCOMPARE(hashPieces(m, split), ni);
            }
            QCOMPARE(ni, portable);
            ++compared;
        }
        qInfo("portable and SHA-NI digests equal on %d messages (0..300 bytes, 1 MiB; whole and in random pieces)", compared);
    }

private:
    void checkVector(const QByteArray& message, const std::string& expected) {
        QCOMPARE(kme::sha256Hex(std::string_view(message.constData(), size_t(message.size()))), expected);

        // The same message fed in pieces of awkward sizes (1, 3, 7, ... 127
        // bytes) must give the same digest: block boundaries fall mid-piece.
        kme::Sha256 h;
        const int sizes[] = {1, 3, 7, 63, 64, 65, 127};
        qsizetype at = 0;
        for (int i = 0; at < message.size(); ++i) {
            const qsizetype n = std::min<qsizetype>(sizes[i % 7], message.size() - at);
            h.update(message.constData() + at, size_t(n));
            at += n;
        }
        QCOMPARE(h.hexDigest(), expected);
    }

private Q_SLOTS:
    void oneByteAtATime() {
        const QByteArray message("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
        kme::Sha256 h;
        for (char c : message) h.update(&c, 1);
        QCOMPARE(h.hexDigest(), std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    }

    void paddingEdges() {
        // Lengths 55 / 56 / 64 bytes straddle the one-or-two padding blocks
        // decision; the reference digests were computed with Python hashlib.
        QCOMPARE(kme::sha256Hex(std::string(55, 'a')),
                 std::string("9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
        QCOMPARE(kme::sha256Hex(std::string(56, 'a')),
                 std::string("b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
        QCOMPARE(kme::sha256Hex(std::string(64, 'a')),
                 std::string("ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
    }

    void resetsAfterDigest() {
        kme::Sha256 h;
        h.update("abc", 3);
        (void)h.hexDigest();
        QCOMPARE(h.hexDigest(), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }
};

QTEST_GUILESS_MAIN(TestSha256)
#include "test_sha256.moc"

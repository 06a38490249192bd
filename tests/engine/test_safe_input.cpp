// engine/core/SafeInput: regular-file reads (FIFOs, devices, folders, symlink
// loops refused without blocking or allocating), JSON nesting limits checked
// before parsing, typed range-checked fields (no silent 64-bit truncation),
// and short quoted excerpts for messages.
#include <QtTest>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

using namespace kme;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The error `fn` throws (kind and message); fails the test when none is thrown.
template <class Fn>
bool errorOf(Fn fn, std::string& message, ErrorKind& kind) {
    try {
        fn();
    } catch (const Error& e) {
        message = e.what();
        kind = e.kind();
        return true;
    }
    return false;
}

#define EXPECT_ERROR(expr, expectedKind, part)                                                       \
    do {                                                                                             \
        std::string msg_;                                                                            \
        ErrorKind kind_{};                                                                           \
        QVERIFY2(errorOf([&] { (void)(expr); }, msg_, kind_), "no kme::Error thrown by " #expr);     \
        QVERIFY2(kind_ == (expectedKind), msg_.c_str());                                             \
        QVERIFY2(msg_.find(part) != std::string::npos, (msg_ + " lacks: " + (part)).c_str());        \
    } while (0)

std::string nested(int depth, const std::string& inner = "1") {
    return std::string(size_t(depth), '[') + inner + std::string(size_t(depth), ']');
}

}  // namespace

class TestSafeInput final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const char* name) const { return (fs::path(tmp_.path().toStdString()) / name).string(); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void readsRegularFiles() {
        const std::string p = path("plain.txt");
        std::ofstream(p, std::ios::binary) << std::string("a\0b", 3);
        QCOMPARE(readRegularFile(p, "text"), std::string("a\0b", 3));
        QVERIFY(notRegularFileReason(p).empty());
        requireRegularFile(p, "text");  // no throw
        const std::string empty = path("empty.txt");
        std::ofstream(empty).flush();
        QCOMPARE(readRegularFile(empty, "text"), std::string());
        // Through a symlink.
        const std::string link = path("link.txt");
        fs::create_symlink(p, link);
        QCOMPARE(readRegularFile(link, "text").size(), size_t(3));
    }

    void refusesWhatIsNotARegularFile_data() {
        QTest::addColumn<QString>("what");
        QTest::addColumn<QString>("reason");
        QTest::newRow("missing") << "missing" << "no such file";
        QTest::newRow("folder") << "folder" << "a directory, not a file";
        QTest::newRow("FIFO") << "fifo" << "a FIFO, not a regular file";
        QTest::newRow("/dev/zero") << "devzero" << "a device, not a regular file";
        QTest::newRow("symlink to /dev/zero") << "zerolink" << "a device, not a regular file";
        QTest::newRow("symlink loop") << "loop" << "a symlink loop";
        QTest::newRow("dangling symlink") << "dangling" << "a symlink to a missing file";
        QTest::newRow("file as a folder") << "notdir" << "a folder on its path is not a folder";
    }

    void refusesWhatIsNotARegularFile() {
        QFETCH(QString, what);
        QFETCH(QString, reason);
        const std::string w = what.toStdString();
        std::string p = path(("target-" + w).c_str());
        std::error_code ec;
        fs::remove_all(p, ec);
        if (w == "folder") fs::create_directory(p);
        if (w == "fifo") QCOMPARE(::mkfifo(p.c_str(), 0600), 0);  // no writer: an open() would block
        if (w == "devzero") p = "/dev/zero";
        if (w == "zerolink") fs::create_symlink("/dev/zero", p);
        if (w == "loop") {
            fs::create_symlink(p + ".b", p);
            fs::create_symlink(p, p + ".b");
        }
        if (w == "dangling") fs::create_symlink(p + ".nowhere", p);
        if (w == "notdir") {
            std::ofstream(p) << "x";
            p += "/inside.json";
        }
        const std::string r = reason.toStdString();
        QCOMPARE(notRegularFileReason(p), r);
        EXPECT_ERROR(readRegularFile(p, "model config"), ErrorKind::Io, p + ": cannot read the model config (" + r + ")");
        EXPECT_ERROR(requireRegularFile(p, "vocabulary"), ErrorKind::Io, p + ": cannot read the vocabulary (" + r + ")");
        EXPECT_ERROR(readJsonFile(p, "dataset"), ErrorKind::Io, r);
    }

    void sizeLimit() {
        const std::string p = path("big.json");
        std::ofstream(p) << std::string(2000, ' ') << "{}";
        EXPECT_ERROR(readRegularFile(p, "model config", 1000), ErrorKind::Io,
                     p + ": the model config is 2002 bytes, more than the 1000 bytes such a file can be");
        QCOMPARE(readRegularFile(p, "model config", 2002).size(), size_t(2002));
        QVERIFY(readJsonFile(p, "model config", 4096).is_object());
    }

    void nestingDepth() {
        QCOMPARE(jsonNestingDepth("1", 64), 0);
        QCOMPARE(jsonNestingDepth("{\"a\": [1, {\"b\": []}]}", 64), 4);
        QCOMPARE(jsonNestingDepth("[\"[[[[\", \"\\\"[[[\"]", 64), 1);  // brackets inside strings do not count
        QCOMPARE(jsonNestingDepth("]]]][", 64), 1);                     // stray closers do not go negative
        QCOMPARE(jsonNestingDepth(nested(200000), 64), 65);             // stops counting past the limit
    }

    void parseJsonLimitsNesting() {
        QCOMPARE(parseJson(nested(kMaxJsonDepth), "x.json").is_array(), true);
        EXPECT_ERROR(parseJson(nested(kMaxJsonDepth + 1), "x.json"), ErrorKind::Format,
                     "x.json: JSON nested more than 64 levels deep");
        // 200,000 deep (array and object): refused before parsing, no stack overflow.
        std::string objects;
        for (int i = 0; i < 200000; ++i) objects += "{\"a\":";
        objects += "1" + std::string(200000, '}');
        for (const std::string& text : {nested(200000), objects}) {
            std::string msg;
            ErrorKind kind{};
            QVERIFY(errorOf([&] { parseJson(text, "config.json"); }, msg, kind));
            QCOMPARE(kind, ErrorKind::Format);
            QVERIFY2(msg.find("nested more than 64") != std::string::npos, msg.c_str());
            QVERIFY2(msg.size() < 200, msg.c_str());  // never echoes the JSON
            QVERIFY(msg.find("[[[") == std::string::npos && msg.find("{\"a\"") == std::string::npos);
        }
        // Syntax errors give the offset, not the text or the library's message.
        std::string msg;
        ErrorKind kind{};
        QVERIFY(errorOf([&] { parseJson("{\"secret\": " + std::string(100000, 'x'), "d.json"); }, msg, kind));
        QCOMPARE(kind, ErrorKind::Format);
        QVERIFY2(msg.rfind("d.json: not valid JSON (syntax error at byte ", 0) == 0, msg.c_str());
        QVERIFY2(msg.find("secret") == std::string::npos && msg.find("json.exception") == std::string::npos, msg.c_str());
        EXPECT_ERROR(parseJson("", "e.json"), ErrorKind::Format, "e.json: not valid JSON");
        EXPECT_ERROR(parseJson("[1e999]", "f.json"), ErrorKind::Format, "f.json: not valid JSON");
        // A file with deep nesting.
        const std::string p = path("deep.json");
        std::ofstream(p) << nested(100000);
        EXPECT_ERROR(readJsonFile(p, "dataset"), ErrorKind::Format, p + ": JSON nested more than 64 levels deep");
    }

    void quoteForMessageIsShort() {
        QCOMPARE(quoteForMessage("Paris"), std::string("'Paris'"));
        QCOMPARE(quoteForMessage(""), std::string("''"));
        // A 1 MB prompt: at most 80 bytes of it, and its size.
        const std::string big(1 << 20, 'p');
        const std::string q = quoteForMessage(big);
        QCOMPARE(q, "'" + std::string(80, 'p') + "'… (1048576 bytes)");
        // NUL and control bytes are escaped: the message is not cut at a NUL.
        const std::string withNul("a\0b\nc\x7f", 6);
        QCOMPARE(quoteForMessage(withNul), std::string("'a\\x00b\\x0Ac\\x7F'"));
        QVERIFY(quoteForMessage(withNul).find('\0') == std::string::npos);
        // UTF-8 is not cut inside a character.
        std::string accents;
        for (int i = 0; i < 100; ++i) accents += "\xC3\xA9";  // é
        const std::string qa = quoteForMessage(accents, 81);
        QVERIFY2(qa.rfind("'" + accents.substr(0, 80) + "'…", 0) == 0, qa.c_str());
        QCOMPARE(quoteForMessage("abcdef", 3), std::string("'abc'… (6 bytes)"));
    }

    void jsonExcerptIsShort() {
        QCOMPARE(jsonExcerpt(json(5)), std::string("'5'"));
        QCOMPARE(jsonExcerpt(json::array({1, 2})), std::string("'[1,2]'"));
        json big = json::array();
        for (int i = 0; i < 100000; ++i) big.push_back(i);
        const std::string e = jsonExcerpt(big);
        QVERIFY2(e.size() < 120, e.c_str());
        QVERIFY(e.rfind("'[0,1,2,", 0) == 0);
        QCOMPARE(jsonExcerpt(json(std::string("a\0b", 3))), std::string("'\"a\\u0000b\"'"));
        QCOMPARE(jsonTypeName(json::object()), std::string("an object"));
        QCOMPARE(jsonTypeName(json(1.5)), std::string("a number"));
        QCOMPARE(jsonTypeName(json(3)), std::string("an integer"));
        QCOMPARE(jsonTypeName(json()), std::string("null"));
    }

    void typedFields_data() {
        QTest::addColumn<QString>("object");   // JSON object text
        QTest::addColumn<QString>("type");     // int | number | string | bool
        QTest::addColumn<QString>("message");  // "" = accepted
        QTest::newRow("int ok") << R"({"k": 7})" << "int" << "";
        QTest::newRow("int from 7.0") << R"({"k": 7.0})" << "int" << "";
        QTest::newRow("int 2^32+1 is not 1") << R"({"k": 4294967297})" << "int"
                                              << "cfg: k must be an integer in [1, 1024], got 4294967297";
        QTest::newRow("int 2^64-1") << R"({"k": 18446744073709551615})" << "int" << "got 18446744073709551615";
        QTest::newRow("int negative") << R"({"k": -1})" << "int" << "got -1";
        QTest::newRow("int fraction") << R"({"k": 2.5})" << "int" << "got 2.5";
        QTest::newRow("int string") << R"({"k": "7"})" << "int" << "got the string '7'";
        QTest::newRow("int array") << R"({"k": [7]})" << "int" << "got an array";
        QTest::newRow("int missing") << R"({"j": 7})" << "int" << "cfg: missing key 'k'";
        QTest::newRow("not an object") << R"([1])" << "int" << "cfg: expected a JSON object, got an array";
        QTest::newRow("number ok") << R"({"k": 0.5})" << "number" << "";
        QTest::newRow("number too big") << R"({"k": 1e308})" << "number" << "cfg: k must be a number in [0, 1], got 1e+308";
        QTest::newRow("number null") << R"({"k": null})" << "number" << "got null";
        QTest::newRow("string ok") << R"({"k": "gpt2"})" << "string" << "";
        QTest::newRow("string from 5") << R"({"k": 5})" << "string" << "cfg: k must be a string, got 5";
        QTest::newRow("string too long") << R"({"k": "0123456789abcdef0123"})" << "string"
                                         << "cfg: k is 20 bytes long (at most 16)";
        QTest::newRow("bool ok") << R"({"k": true})" << "bool" << "";
        QTest::newRow("bool from 1") << R"({"k": 1})" << "bool" << "cfg: k must be true or false, got 1";
    }

    void typedFields() {
        QFETCH(QString, object);
        QFETCH(QString, type);
        QFETCH(QString, message);
        const json j = json::parse(object.toStdString());
        const std::string t = type.toStdString();
        auto call = [&] {
            if (t == "int") (void)jsonInt(j, "cfg", "k", 1, 1024, ErrorKind::Config);
            if (t == "number") (void)jsonNumber(j, "cfg", "k", 0, 1, ErrorKind::Config);
            if (t == "string") (void)jsonString(j, "cfg", "k", 16, ErrorKind::Config);
            if (t == "bool") (void)jsonBool(j, "cfg", "k", ErrorKind::Config);
        };
        if (message.isEmpty()) {
            call();
            return;
        }
        EXPECT_ERROR(call(), ErrorKind::Config, message.toStdString());
    }

    void typedValues() {
        QCOMPARE(jsonInt(json{{"k", 7.0}}, "w", "k", 0, 10), int64_t(7));
        QCOMPARE(jsonInt(json{{"k", -5}}, "w", "k", -10, 10), int64_t(-5));
        QCOMPARE(jsonInt(json{{"k", std::numeric_limits<int64_t>::max()}}, "w", "k", 0, std::numeric_limits<int64_t>::max()),
                 std::numeric_limits<int64_t>::max());
        QCOMPARE(jsonNumber(json{{"k", 3}}, "w", "k", 0, 10), 3.0);
        QCOMPARE(jsonString(json{{"k", "abc"}}, "w", "k"), std::string("abc"));
        QCOMPARE(jsonBool(json{{"k", false}}, "w", "k"), false);
        // The default kind is Format; long strings are quoted short.
        EXPECT_ERROR(jsonInt(json{{"k", std::string(100000, 'z')}}, "w", "k", 0, 1), ErrorKind::Format,
                     "… (100000 bytes)");
    }
};

QTEST_GUILESS_MAIN(TestSafeInput)
#include "test_safe_input.moc"

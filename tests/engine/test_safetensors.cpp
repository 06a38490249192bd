// Safetensors reader / writer, checkpoint folders, 16-bit float conversions,
// the weights hash, and hostile files built byte by byte (STYLE.md 13).
#include "engine/core/Error.h"
#include "engine/io/Safetensors.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

namespace {

using kme::DType;
using kme::TensorData;

QByteArray le64(quint64 v) {
    QByteArray b(8, '\0');
    for (int i = 0; i < 8; ++i) b[i] = char(v >> (8 * i));
    return b;
}

// A safetensors file: length prefix, header, data.
QByteArray stFile(const QByteArray& header, const QByteArray& data = {}) {
    return le64(quint64(header.size())) + header + data;
}

void writeBytes(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly), qPrintable(path));
    QCOMPARE(f.write(bytes), bytes.size());
}

// Runs f; returns the kme::Error message (empty if nothing was thrown).
QString errorOf(const std::function<void()>& f, kme::ErrorKind* kind = nullptr) {
    try {
        f();
    } catch (const kme::Error& e) {
        if (kind) *kind = e.kind();
        return QString::fromStdString(e.what());
    }
    return {};
}

quint32 floatBits(float f) {
    quint32 u;
    std::memcpy(&u, &f, 4);
    return u;
}

template <typename T>
TensorData tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    return TensorData{name, dtype, std::move(shape), values.data(), values.size() * sizeof(T)};
}

}  // namespace

class TestSafetensors final : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    int hostilePassed_ = 0;
    int hostileTotal_ = 0;

    std::string path(const QString& name) const { return tmp_.filePath(name).toStdString(); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void cleanupTestCase() { qInfo("hostile safetensors cases passed: %d of %d", hostilePassed_, hostileTotal_); }

    void roundTripDtypes() {
        const std::vector<float> f32{1.5f, -2.0f, 0.0f, 3.25f, 1e-8f, -7.0f};
        std::vector<uint16_t> f16, bf16;
        for (float v : {1.0f, -2.5f, 65504.0f, 0.5f}) f16.push_back(kme::floatToHalf(v));
        for (float v : {1.0f, -2.5f, 3.0e38f, 0.125f}) bf16.push_back(kme::floatToBf16(v));
        const std::vector<int64_t> i64{-1, 0, std::numeric_limits<int64_t>::max()};
        const std::vector<double> f64{3.141592653589793, -1e300};
        const std::vector<uint8_t> flags{1, 0, 1};
        const std::vector<int32_t> i32{-100000, 7};
        const std::vector<float> scalar{3.5f};
        const std::vector<float> none;
        const std::vector<TensorData> tensors{
            tensor("w.f32", DType::F32, {2, 3}, f32),     tensor("w.f16", DType::F16, {4}, f16),
            tensor("w.bf16", DType::BF16, {2, 2}, bf16),  tensor("empty", DType::F32, {0, 4}, none),
            tensor("ids", DType::I64, {3}, i64),          tensor("w.f64", DType::F64, {2}, f64),
            tensor("scalar", DType::F32, {}, scalar),     tensor("mask", DType::BOOL, {3}, flags),
            tensor("i32", DType::I32, {1, 2, 1}, i32)};
        const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\""}};
        const std::string file = path("roundtrip.safetensors");
        kme::writeSafetensors(file, tensors, metadata);
        QVERIFY(!QFile::exists(QString::fromStdString(file + ".tmp")));

        // Layout: header length is a multiple of 8 and the data is contiguous.
        QFile raw(QString::fromStdString(file));
        QVERIFY(raw.open(QIODevice::ReadOnly));
        const QByteArray bytes = raw.readAll();
        quint64 headerLength = 0;
        for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | quint8(bytes[i]);
        QCOMPARE(headerLength % 8, quint64(0));
        size_t dataBytes = 0;
        for (const auto& t : tensors) dataBytes += t.nbytes;
        QCOMPARE(quint64(bytes.size()), 8 + headerLength + dataBytes);
        QVERIFY(bytes.mid(8).startsWith("{\"__metadata__\""));

        const auto st = kme::SafetensorsFile::open(file);
        QCOMPARE(st->metadata(), metadata);
        QCOMPARE(st->tensors().size(), tensors.size());
        QCOMPARE(st->path(), QFileInfo(QString::fromStdString(file)).absoluteFilePath().toStdString());
        for (size_t i = 0; i < tensors.size(); ++i) {
            const TensorData& want = tensors[i];
            const kme::TensorView& got = st->tensors()[i];  // offset order = written order here
            QCOMPARE(got.name, want.name);
            QCOMPARE(got.dtype, want.dtype);
            QCOMPARE(got.shape, want.shape);
            QCOMPARE(got.nbytes, want.nbytes);
            QCOMPARE(got.file, st->path());
            QCOMPARE(size_t(got.numel()) * kme::dtypeSize(got.dtype), got.nbytes);
            QVERIFY(got.nbytes == 0 || std::memcmp(got.data, want.data, want.nbytes) == 0);
            QCOMPARE(st->find(want.name), &got);
        }
        QVERIFY(st->find("absent") == nullptr);
        QCOMPARE(st->find("scalar")->numel(), int64_t(1));
        QCOMPARE(st->find("empty")->numel(), int64_t(0));

        float converted[4];
        const kme::TensorView* half = st->find("w.f16");
        kme::toFloat(half->dtype, half->data, converted, 4);
        QCOMPARE(converted[1], -2.5f);
        QCOMPARE(converted[2], 65504.0f);

        // The same file as a checkpoint (single file and folder forms).
        const auto ck = kme::Checkpoint::openFile(file);
        QVERIFY(!ck.isSharded());
        QCOMPARE(ck.files(), std::vector<std::string>{st->path()});
        QCOMPARE(ck.tensors().front().name, std::string("empty"));  // sorted by name
        QCOMPARE(ck.find("ids")->nbytes, size_t(24));

        // Inconsistent input to the writer names the file and the tensor.
        const std::vector<float> two{1, 2};
        kme::ErrorKind kind{};
        QString msg = errorOf([&] { kme::writeSafetensors(path("bad.safetensors"), {tensor("x", DType::F32, {3}, two)}); }, &kind);
        QVERIFY2(msg.contains("bad.safetensors") && msg.contains("'x'"), qPrintable(msg));
        QCOMPARE(kind, kme::ErrorKind::Format);
        msg = errorOf([&] { kme::writeSafetensors(path("no/such/dir/out.safetensors"), {}); }, &kind);
        QVERIFY2(msg.contains("out.safetensors"), qPrintable(msg));
        QCOMPARE(kind, kme::ErrorKind::Io);

        // A file without tensors is valid.
        kme::writeSafetensors(path("nothing.safetensors"), {});
        QVERIFY(kme::SafetensorsFile::open(path("nothing.safetensors"))->tensors().empty());
    }

    void halfConversions_data() {
        QTest::addColumn<float>("value");
        QTest::addColumn<ushort>("f16");     // expected binary16 bits
        QTest::addColumn<float>("f16Back");  // halfToFloat(f16)
        QTest::addColumn<ushort>("bf16");    // expected bfloat16 bits
        QTest::addColumn<float>("bf16Back");
        const float inf = std::numeric_limits<float>::infinity();
        // 1.0: exponent 15 (half) / 127 (bf16), mantissa 0.
        QTest::newRow("1.0") << 1.0f << ushort(0x3C00) << 1.0f << ushort(0x3F80) << 1.0f;
        // -2.5 = -1.25 * 2^1: sign, exponent 16, mantissa .01b.
        QTest::newRow("-2.5") << -2.5f << ushort(0xC100) << -2.5f << ushort(0xC020) << -2.5f;
        // Largest half; bf16 keeps 8 significant bits, so 65504 rounds up to 2^16.
        QTest::newRow("65504") << 65504.0f << ushort(0x7BFF) << 65504.0f << ushort(0x4780) << 65536.0f;
        // Halfway between 65504 and 2^16: ties to even (odd mantissa) -> inf.
        QTest::newRow("65520") << 65520.0f << ushort(0x7C00) << inf << ushort(0x4780) << 65536.0f;
        // Smallest half subnormal 2^-24 = 0x0001; a normal number in bf16.
        QTest::newRow("2^-24") << std::ldexp(1.0f, -24) << ushort(0x0001) << std::ldexp(1.0f, -24)
                               << ushort(0x3380) << std::ldexp(1.0f, -24);
        // Largest half subnormal 1023 * 2^-24.
        QTest::newRow("1023*2^-24") << std::ldexp(1023.0f, -24) << ushort(0x03FF) << std::ldexp(1023.0f, -24)
                                    << ushort(0x3880) << std::ldexp(1.0f, -14);
        // 1023.5 * 2^-24 ties to even and carries into the smallest normal.
        QTest::newRow("subnormal carry") << std::ldexp(2047.0f, -25) << ushort(0x0400) << std::ldexp(1.0f, -14)
                                         << ushort(0x3880) << std::ldexp(1.0f, -14);
        // 2^-133 is a float subnormal: half underflows to 0, bf16 keeps it.
        QTest::newRow("2^-133") << std::ldexp(1.0f, -133) << ushort(0x0000) << 0.0f << ushort(0x0001)
                                << std::ldexp(1.0f, -133);
        // Ties to even: 1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9.
        QTest::newRow("tie down") << 1.0f + std::ldexp(1.0f, -11) << ushort(0x3C00) << 1.0f << ushort(0x3F80) << 1.0f;
        QTest::newRow("tie up") << 1.0f + std::ldexp(3.0f, -11) << ushort(0x3C02) << 1.0f + std::ldexp(1.0f, -9)
                                << ushort(0x3F80) << 1.0f;
        QTest::newRow("inf") << inf << ushort(0x7C00) << inf << ushort(0x7F80) << inf;
        QTest::newRow("-inf") << -inf << ushort(0xFC00) << -inf << ushort(0xFF80) << -inf;
        QTest::newRow("-0") << -0.0f << ushort(0x8000) << -0.0f << ushort(0x8000) << -0.0f;
    }

    void halfConversions() {
        QFETCH(float, value);
        QFETCH(ushort, f16);
        QFETCH(float, f16Back);
        QFETCH(ushort, bf16);
        QFETCH(float, bf16Back);
        QCOMPARE(ushort(kme::floatToHalf(value)), f16);
        QCOMPARE(floatBits(kme::halfToFloat(f16)), floatBits(f16Back));
        QCOMPARE(ushort(kme::floatToBf16(value)), bf16);
        QCOMPARE(floatBits(kme::bf16ToFloat(bf16)), floatBits(bf16Back));
    }

    void halfNanAndExhaustive() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        QVERIFY(std::isnan(kme::halfToFloat(kme::floatToHalf(nan))));
        QVERIFY(std::isnan(kme::bf16ToFloat(kme::floatToBf16(nan))));
        // Every non-NaN half and bf16 survives float and back bit for bit.
        for (uint32_t b = 0; b < 0x10000; ++b) {
            const uint16_t bits = uint16_t(b);
            const float h = kme::halfToFloat(bits), g = kme::bf16ToFloat(bits);
            if (!std::isnan(h)) QCOMPARE(kme::floatToHalf(h), bits);
            if (!std::isnan(g)) QCOMPARE(kme::floatToBf16(g), bits);
        }
    }

    void dtypeNames() {
        for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16,
                        DType::I8, DType::U8, DType::BOOL})
            QCOMPARE(kme::parseDType(kme::dtypeName(t)), std::optional<DType>(t));
        QCOMPARE(kme::dtypeSize(DType::BF16), size_t(2));
        QCOMPARE(kme::dtypeSize(DType::F64), size_t(8));
        QVERIFY(!kme::parseDType("F8_E4M3").has_value());
        QVERIFY(!kme::parseDType("f32").has_value());
    }

    void shardedRoundTrip() {
        const std::vector<float> a{1, 2, 3, 4}, b{5, 6}, c{7};
        const std::vector<TensorData> all{tensor("h.0.w", DType::F32, {2, 2}, a), tensor("h.1.w", DType::F32, {2}, b),
                                          tensor("ln_f.b", DType::F32, {}, c)};
        const std::string folder = path("sharded");
        kme::writeShardedSafetensors(folder,
                                     {{"model-00001-of-00002.safetensors", {all[2], all[0]}},
                                      {"model-00002-of-00002.safetensors", {all[1]}}},
                                     {{"format", "pt"}});
        QVERIFY(!QFile::exists(QString::fromStdString(folder + "/model.safetensors")));

        QFile indexFile(QString::fromStdString(folder + "/model.safetensors.index.json"));
        QVERIFY(indexFile.open(QIODevice::ReadOnly));
        const QJsonObject index = QJsonDocument::fromJson(indexFile.readAll()).object();
        QCOMPARE(index["metadata"].toObject()["total_size"].toInt(), 28);
        QCOMPARE(index["metadata"].toObject()["format"].toString(), QString("pt"));
        const QJsonObject map = index["weight_map"].toObject();
        QCOMPARE(map.size(), qsizetype(3));
        QCOMPARE(map["h.1.w"].toString(), QString("model-00002-of-00002.safetensors"));
        QCOMPARE(map["ln_f.b"].toString(), QString("model-00001-of-00002.safetensors"));

        const auto ck = kme::Checkpoint::openFolder(folder);
        QVERIFY(ck.isSharded());
        QCOMPARE(ck.files().size(), size_t(2));
        QVERIFY(QString::fromStdString(ck.source()).endsWith("model.safetensors.index.json"));
        QCOMPARE(ck.tensors().size(), size_t(3));
        for (size_t i = 0; i < all.size(); ++i) {  // `all` is in name order
            const kme::TensorView& v = ck.tensors()[i];
            QCOMPARE(v.name, all[i].name);
            QCOMPARE(v.shape, all[i].shape);
            QVERIFY(std::memcmp(v.data, all[i].data, v.nbytes) == 0);
        }
        QVERIFY(QString::fromStdString(ck.find("h.1.w")->file).endsWith("model-00002-of-00002.safetensors"));
        QVERIFY(QString::fromStdString(ck.find("h.0.w")->file).endsWith("model-00001-of-00002.safetensors"));
        QCOMPARE(ck.shards().front()->metadata().at("format"), std::string("pt"));

        // Sharding does not change the identity.
        std::vector<TensorData> views;
        for (const auto& v : ck.tensors()) views.push_back(kme::asTensorData(v));
        QCOMPARE(kme::weightsHash(views), kme::weightsHash(all));
    }

    void shardedErrors() {
        const std::vector<float> a{1, 2}, one{3};
        const QString folder = tmp_.filePath("badshards");
        QVERIFY(QDir().mkpath(folder));
        kme::writeSafetensors((folder + "/s1.safetensors").toStdString(), {tensor("a", DType::F32, {2}, a)});
        kme::writeSafetensors((folder + "/s2.safetensors").toStdString(),
                              {tensor("b", DType::F32, {2}, a), tensor("a", DType::F32, {1}, one)});
        const QString index = folder + "/model.safetensors.index.json";
        auto check = [&](const QByteArray& json, const QStringList& needles, kme::ErrorKind want) {
            writeBytes(index, json);
            kme::ErrorKind kind{};
            const QString msg = errorOf([&] { kme::Checkpoint::openFolder(folder.toStdString()); }, &kind);
            QVERIFY2(!msg.isEmpty(), json.constData());
            QVERIFY2(msg.contains("model.safetensors.index.json"), qPrintable(msg));
            for (const QString& n : needles) QVERIFY2(msg.contains(n), qPrintable(msg + " lacks " + n));
            QCOMPARE(kind, want);
        };
        // A weight_map naming a shard that does not exist.
        check(R"({"weight_map": {"a": "s1.safetensors", "z": "s3.safetensors"}})", {"s3.safetensors", "'z'"},
              kme::ErrorKind::Io);
        // A tensor listed in the index but absent from its shard.
        check(R"({"weight_map": {"a": "s1.safetensors", "ghost": "s1.safetensors"}})", {"'ghost'", "s1.safetensors"},
              kme::ErrorKind::Format);
        // One tensor name in two shards.
        check(R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})", {"'a'", "two shards"},
              kme::ErrorKind::Format);
        check("not json", {"JSON"}, kme::ErrorKind::Format);
        check(R"({"metadata": {}})", {"weight_map"}, kme::ErrorKind::Format);
        check(R"({"weight_map": {"a": "../s1.safetensors"}})", {"'a'", "../s1.safetensors"}, kme::ErrorKind::Format);
        check(R"({"weight_map": {"a": 3}})", {"'a'"}, kme::ErrorKind::Format);

        // A folder with neither file.
        kme::ErrorKind kind{};
        const std::string empty = path("emptyfolder");
        QVERIFY(QDir().mkpath(QString::fromStdString(empty)));
        const QString msg = errorOf([&] { kme::Checkpoint::openFolder(empty); }, &kind);
        QVERIFY2(msg.contains("no model.safetensors or model.safetensors.index.json in") && msg.contains("emptyfolder"),
                 qPrintable(msg));
        QCOMPARE(kind, kme::ErrorKind::Io);
    }

    void weightsHash() {
        const std::vector<float> a{1.0f, 2.0f};
        const std::vector<int16_t> s{-7};
        const std::vector<uint16_t> none;
        std::vector<TensorData> t{tensor("a", DType::F32, {2}, a), tensor("b.scalar", DType::I16, {}, s),
                                  tensor("c", DType::BF16, {0, 3}, none)};
        // Reference digest computed independently with Python hashlib over the
        // byte layout documented in Safetensors.h.
        const std::string golden = "3c8b6c5f993fc1b23cab8c3bada7ff4ee5e57e35d09a146c90bc43d895a323e8";
        QCOMPARE(kme::weightsHash(t), golden);
        QCOMPARE(kme::weightsHash({t[2], t[0], t[1]}), golden);  // order does not matter

        std::vector<float> changed = a;
        changed[1] = std::nextafter(2.0f, 3.0f);  // one byte differs
        QVERIFY(kme::weightsHash({tensor("a", DType::F32, {2}, changed), t[1], t[2]}) != golden);
        QVERIFY(kme::weightsHash({tensor("a", DType::F32, {1, 2}, a), t[1], t[2]}) != golden);  // same bytes, new shape
        QVERIFY(kme::weightsHash({tensor("a", DType::I32, {2}, a), t[1], t[2]}) != golden);     // same bytes, new dtype
        QVERIFY(kme::weightsHash({tensor("A", DType::F32, {2}, a), t[1], t[2]}) != golden);     // renamed
        QVERIFY(kme::weightsHash({t[0], t[1]}) != golden);                                      // one fewer

        // Written to a file and read back: the same identity.
        kme::writeSafetensors(path("hash.safetensors"), t);
        const auto ck = kme::Checkpoint::openFile(path("hash.safetensors"));  // keeps the mapping alive
        std::vector<TensorData> views;
        for (const auto& v : ck.tensors()) views.push_back(kme::asTensorData(v));
        QCOMPARE(kme::weightsHash(views), golden);

        QVERIFY(!errorOf([&] { kme::weightsHash({t[0], t[0]}); }).isEmpty());  // duplicate names
    }

    void missingFileAndFolderPath() {
        kme::ErrorKind kind{};
        QString msg = errorOf([&] { kme::SafetensorsFile::open(path("absent.safetensors")); }, &kind);
        QVERIFY2(msg.contains("absent.safetensors"), qPrintable(msg));
        QCOMPARE(kind, kme::ErrorKind::Io);
        msg = errorOf([&] { kme::SafetensorsFile::open(tmp_.path().toStdString()); }, &kind);
        QVERIFY2(!msg.isEmpty(), "a folder opened as a file");
        QCOMPARE(kind, kme::ErrorKind::Io);
    }

    void hostileFiles_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("tensor");  // the tensor the message must name, if any
        const QByteArray w8 = QByteArray(8, '\x01');
        auto one = [](const QByteArray& entry) { return "{\"w\":" + entry + "}"; };

        QTest::newRow("empty file") << QByteArray() << QString();
        QTest::newRow("7-byte file") << QByteArray(7, '\0') << QString();
        QTest::newRow("header past end") << (le64(100) + QByteArray("{}")) << QString();
        QTest::newRow("header length 2^63") << (le64(quint64(1) << 63) + QByteArray("{}")) << QString();
        QTest::newRow("header over 100 MB") << (le64(100000001) + QByteArray(64, ' ')) << QString();
        QTest::newRow("header not JSON") << stFile("{\"w\": nope}") << QString();
        QTest::newRow("header is array") << stFile("[1, 2, 3]") << QString();
        QTest::newRow("header not UTF-8") << stFile("{\"w\xff\": {}}") << QString();
        QTest::newRow("unknown dtype") << stFile(one(R"({"dtype":"F8_XYZ","shape":[2],"data_offsets":[0,8]})"), w8)
                                       << "w";
        QTest::newRow("dtype not string") << stFile(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), w8) << "w";
        QTest::newRow("missing dtype") << stFile(one(R"({"shape":[2],"data_offsets":[0,8]})"), w8) << "w";
        QTest::newRow("missing shape") << stFile(one(R"({"dtype":"F32","data_offsets":[0,8]})"), w8) << "w";
        QTest::newRow("negative shape") << stFile(one(R"({"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]})"), w8)
                                        << "w";
        QTest::newRow("fractional shape") << stFile(one(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"), w8)
                                          << "w";
        QTest::newRow("shape overflow")
            << stFile(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"), w8) << "w";
        QTest::newRow("shape/size mismatch")
            << stFile(one(R"({"dtype":"F32","shape":[3,4],"data_offsets":[0,100]})"), QByteArray(100, '\0')) << "w";
        QTest::newRow("end past data") << stFile(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), w8)
                                       << "w";
        QTest::newRow("begin after end") << stFile(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), w8)
                                         << "w";
        QTest::newRow("offsets one integer") << stFile(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"), w8)
                                             << "w";
        QTest::newRow("offsets strings") << stFile(one(R"({"dtype":"F32","shape":[2],"data_offsets":["0","8"]})"), w8)
                                         << "w";
        QTest::newRow("offsets negative") << stFile(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"), w8)
                                          << "w";
        QTest::newRow("missing offsets") << stFile(one(R"({"dtype":"F32","shape":[2]})"), w8) << "w";
        QTest::newRow("entry not object") << stFile(R"({"w": 5})") << "w";
        QTest::newRow("overlapping tensors")
            << stFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                      QByteArray(24, '\0'))
            << "b";
        QTest::newRow("duplicate tensor")
            << stFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                      R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                      QByteArray(2, '\0'))
            << "w";
        QTest::newRow("metadata value not string") << stFile(R"({"__metadata__":{"format":1}})") << "format";
        QTest::newRow("metadata not object") << stFile(R"({"__metadata__":"pt"})") << QString();
        // Deep nesting must not exhaust the stack of the parser or destructor:
        // refused before parsing (so no tensor can be named).
        QTest::newRow("deep nesting") << stFile("{\"w\":" + QByteArray(200000, '[') + QByteArray(200000, ']') + "}")
                                      << QString();
        QTest::newRow("deep __metadata__")
            << stFile("{\"__metadata__\":{\"a\":" + QByteArray(100000, '[') + QByteArray(100000, ']') + "}}")
            << QString();
    }

    void hostileFiles() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, tensor);
        ++hostileTotal_;
        const QString name = QStringLiteral("hostile_%1.safetensors").arg(hostileTotal_, 2, 10, QLatin1Char('0'));
        writeBytes(tmp_.filePath(name), bytes);
        kme::ErrorKind kind = kme::ErrorKind::Internal;
        const QString msg = errorOf([&] { kme::SafetensorsFile::open(path(name)); }, &kind);
        QVERIFY2(!msg.isEmpty(), "no kme::Error thrown");
        QVERIFY2(msg.contains(name), qPrintable(msg));
        if (!tensor.isEmpty()) QVERIFY2(msg.contains("'" + tensor + "'"), qPrintable(msg));
        QCOMPARE(kind, kme::ErrorKind::Format);
        ++hostilePassed_;
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"

// SPDX-License-Identifier: MIT
// Safetensors headers and Hugging Face shard indexes built by hand (FORMAT.md 7.1, 7.2).
#include "safetensorsreader.h"

#include <QtTest>

#include <memory>
#include <optional>

using namespace ckpt::format;

Q_DECLARE_METATYPE(ckpt::format::DType)

namespace {

/// An exactly-sized heap copy: AddressSanitizer flags any read past its end.
struct Buffer
{
    explicit Buffer(const QByteArray &bytes)
        : data(new std::uint8_t[static_cast<std::size_t>(bytes.size())])
        , size(static_cast<std::uint64_t>(bytes.size()))
    {
        if (size)
            std::memcpy(data.get(), bytes.constData(), static_cast<std::size_t>(size));
    }
    ByteView view() const { return {data.get(), size}; }
    std::unique_ptr<std::uint8_t[]> data;
    std::uint64_t size;
};

QByteArray le64(std::uint64_t v)
{
    QByteArray b(8, '\0');
    for (int i = 0; i < 8; ++i)
        b[i] = char((v >> (8 * i)) & 0xFF);
    return b;
}

/// length + header + `dataSize` data bytes.
QByteArray file(const QByteArray &header, qsizetype dataSize)
{
    return le64(std::uint64_t(header.size())) + header + QByteArray(dataSize, '\x11');
}

QByteArray tensor(const char *name, const char *dtype, const char *shape, std::uint64_t begin,
                  std::uint64_t end)
{
    return QByteArray("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape
           + ",\"data_offsets\":[" + QByteArray::number(qulonglong(begin)) + ","
           + QByteArray::number(qulonglong(end)) + "]}";
}

bool errorIsLocated(const FormatError &e, std::uint64_t fileSize)
{
    return !e.record().empty() && e.hasOffset() && e.offset() <= fileSize
           && std::string(e.what()).find("at byte ") != std::string::npos;
}

} // namespace

class TestSafetensorsReader : public QObject
{
    Q_OBJECT

private slots:
    void dtypes_data();
    void dtypes();
    void valid();
    void headers_data();
    void headers();
    void truncatedEverywhere();
    void probe_data();
    void probe();
    void index();
    void badIndex_data();
    void badIndex();
    void probeIndex_data();
    void probeIndex();
};

void TestSafetensorsReader::dtypes_data()
{
    QTest::addColumn<QByteArray>("code");
    QTest::addColumn<DType>("dtype");
    QTest::addColumn<int>("bytesFor2x3");
    struct Row { const char *code; DType dtype; int bytes; };
    const Row rows[] = {
        {"BOOL", DType::Bool, 6},         {"U8", DType::UInt8, 6},
        {"I8", DType::Int8, 6},           {"I16", DType::Int16, 12},
        {"U16", DType::UInt16, 12},       {"I32", DType::Int32, 24},
        {"U32", DType::UInt32, 24},       {"I64", DType::Int64, 48},
        {"U64", DType::UInt64, 48},       {"F16", DType::Float16, 12},
        {"BF16", DType::BFloat16, 12},    {"F32", DType::Float32, 24},
        {"F64", DType::Float64, 48},      {"C64", DType::Complex64, 48},
        {"F8_E5M2", DType::Float8_e5m2, 6}, {"F8_E4M3", DType::Float8_e4m3fn, 6},
        {"F8_E8M0", DType::Float8_e8m0fnu, 6},
        // sub-byte codes the dtype table lacks: kept as Unknown, sized in bits, rounded up
        {"F4", DType::Unknown, 3},        {"F6_E2M3", DType::Unknown, 5},
        {"F6_E3M2", DType::Unknown, 5},
    };
    for (const Row &r : rows)
        QTest::newRow(r.code) << QByteArray(r.code) << r.dtype << r.bytes;
}

void TestSafetensorsReader::dtypes()
{
    QFETCH(QByteArray, code);
    QFETCH(DType, dtype);
    QFETCH(int, bytesFor2x3);
    const QByteArray h = "{" + tensor("t", code.constData(), "[2,3]", 0, std::uint64_t(bytesFor2x3))
                         + "}";
    const Buffer buf(file(h, bytesFor2x3));
    const SafetensorsHeader header = readSafetensorsHeader(buf.view(), "x.safetensors");
    QCOMPARE(header.tensors.size(), std::size_t(1));
    const SafetensorsEntry &t = header.tensors[0];
    QCOMPARE(t.dtype, dtype);
    QCOMPARE(QByteArray::fromStdString(t.dtypeCode), code);
    QCOMPARE(t.shape, (std::vector<std::int64_t>{2, 3}));
    QCOMPARE(t.end - t.begin, std::uint64_t(bytesFor2x3));
    if (dtype != DType::Unknown)
        QCOMPARE(int(elementSize(dtype)) * 6, bytesFor2x3);

    // one byte short is refused
    const QByteArray shortHeader =
        "{" + tensor("t", code.constData(), "[2,3]", 0, std::uint64_t(bytesFor2x3 - 1)) + "}";
    const Buffer shortBuf(file(shortHeader, bytesFor2x3));
    QVERIFY_THROWS_EXCEPTION(FormatError, readSafetensorsHeader(shortBuf.view()));
}

void TestSafetensorsReader::valid()
{
    // Header order kept, scalar and empty tensors, metadata in file order, padding spaces.
    const QByteArray h = "{\"__metadata__\":{\"format\":\"pt\",\"a\":\"b\"},"
                         + tensor("z.weight", "F32", "[2,2]", 0, 16) + ","
                         + tensor("a.bias", "F16", "[]", 16, 18) + ","
                         + tensor("empty", "I64", "[0,5]", 18, 18) + ","
                         + tensor("gap_after_this", "U8", "[1]", 24, 25) + "}    ";
    const Buffer buf(file(h, 25));
    const SafetensorsHeader s = readSafetensorsHeader(buf.view(), "m.safetensors");
    QCOMPARE(s.headerSize, std::uint64_t(h.size()));
    QCOMPARE(s.dataStart, std::uint64_t(8 + h.size()));
    QCOMPARE(s.tensors.size(), std::size_t(4));
    QCOMPARE(s.tensors[0].name, std::string("z.weight"));
    QCOMPARE(s.tensors[1].name, std::string("a.bias"));
    QVERIFY(s.tensors[1].shape.empty());
    QCOMPARE(s.tensors[2].begin, s.tensors[2].end);
    QCOMPARE(s.tensors[3].begin, std::uint64_t(24)); // a gap is accepted
    QCOMPARE(s.metadata.size(), std::size_t(2));
    QCOMPARE(s.metadata[0], (std::pair<std::string, std::string>("format", "pt")));
    QCOMPARE(s.metadata[1], (std::pair<std::string, std::string>("a", "b")));

    const Buffer empty(file("{}", 0));
    QVERIFY(readSafetensorsHeader(empty.view()).tensors.empty());
}

void TestSafetensorsReader::headers_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("error");  // null: must succeed
    QTest::addColumn<QString>("record");
    QTest::addColumn<qint64>("offset");  // -1: don't check

    const QByteArray a = tensor("a", "F32", "[2]", 0, 8);
    auto row = [](const char *name, const QByteArray &bytes, const char *error,
                  const char *record, qint64 offset = -1) {
        QTest::newRow(name) << bytes << (error ? QString::fromUtf8(error) : QString())
                            << QString::fromUtf8(record) << offset;
    };

    row("gap between tensors", file("{" + a + "," + tensor("b", "F32", "[1]", 12, 16) + "}", 16),
        nullptr, "");
    row("touching spans", file("{" + a + "," + tensor("b", "F32", "[1]", 8, 12) + "}", 12),
        nullptr, "");
    row("overlap", file("{" + a + "," + tensor("b", "F32", "[1]", 4, 8) + "}", 8),
        "overlaps tensor 'a' [0, 8)", "b", 8 + 1 + a.size() + 1);
    row("overlap, listed first", file("{" + tensor("b", "F32", "[1]", 4, 8) + "," + a + "}", 8),
        "overlaps tensor 'a'", "b");
    row("same span twice", file("{" + a + "," + tensor("b", "I32", "[2]", 0, 8) + "}", 8),
        "overlaps", "b");
    row("span past the data", file("{" + a + "}", 7), "run past the end of the data area (7 bytes",
        "a", 9);
    row("span length wrong", file("{" + tensor("a", "F32", "[2,2]", 0, 8) + "}", 16),
        "span 8 bytes, but F32 [2, 2] needs 16", "a", 9);
    row("end before begin", file("{" + tensor("a", "F32", "[0]", 8, 0) + "}", 16),
        "end before they begin", "a", 9);
    row("header length over 100,000,000", le64(100'000'001) + "{}",
        "exceeds the limit of 100000000 bytes", "safetensors header", 0);
    row("header length beyond EOF", le64(50) + "{}",
        "header length 50 runs past the end of the file", "safetensors header", 0);
    row("header length 2^64-1", le64(~0ull) + "{}", "exceeds the limit", "safetensors header", 0);
    row("file shorter than 8 bytes", QByteArray("\x02\0\0", 3), "too short", "safetensors header",
        0);
    row("array instead of object", file("[1,2]", 0), "header is not a JSON object (found array)",
        "safetensors header", 8);
    row("string instead of object", file("  \"x\"", 0), "not a JSON object (found string)",
        "safetensors header", 10);
    row("metadata with a number", file("{\"__metadata__\":{\"k\":\"v\",\"n\":1}}", 0),
        "__metadata__ value of 'n' is a number, only strings are allowed", "__metadata__", 9);
    row("metadata not an object", file("{\"__metadata__\":[]}", 0),
        "__metadata__ must be an object of strings", "__metadata__", 9);
    // byte 8 + 6 is the 'x'
    row("invalid JSON", file("{\"a\": x}", 0), "invalid JSON", "safetensors header", 8 + 6);
    row("invalid JSON, later", file("{" + a + ",\n  \"b\": {\"dtype\": F32}}", 8), "invalid JSON",
        "safetensors header", 8 + 1 + a.size() + 1 + 3 + 5 + 10);
    row("invalid UTF-8", file("{\"\xff\":1}", 0), "invalid JSON", "safetensors header", 8 + 2);
    row("trailing garbage", file("{}x", 0), "invalid JSON", "safetensors header", 8 + 2);
    row("empty header", file("", 0), "invalid JSON", "safetensors header", 8);
    row("NUL padding", file(QByteArray("{}\0\0", 4), 0), "invalid JSON", "safetensors header",
        8 + 2);
    row("negative shape", file("{" + tensor("neg", "F32", "[2,-1]", 0, 0) + "}", 0),
        "shape has a negative dimension (-1)", "neg", 9);
    row("fractional shape", file("{" + tensor("f", "F32", "[2.5]", 0, 0) + "}", 0),
        "shape entry 2.5 is not an integer", "f", 9);
    row("numel overflow",
        file("{" + tensor("big", "F32", "[4294967296,4294967296]", 0, 0) + "}", 0),
        "has too many elements", "big", 9);
    row("byte size overflow",
        file("{" + tensor("big", "F64", "[2305843009213693952,4]", 0, 0) + "}", 0),
        "has too many elements", "big", 9);
    row("zero dim beats overflow",
        file("{" + tensor("z", "F64", "[0,9223372036854775807,9223372036854775807]", 0, 0) + "}",
             0),
        nullptr, "");
    row("unknown dtype", file("{" + tensor("q", "Q4_K", "[2]", 0, 1) + "}", 1),
        "unknown dtype 'Q4_K'", "q", 9);
    row("dtype missing", file("{\"m\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
        "no \"dtype\" string", "m", 9);
    row("offsets missing", file("{\"m\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1),
        "\"data_offsets\" must be two non-negative integers", "m", 9);
    row("offsets negative",
        file("{\"m\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1),
        "\"data_offsets\" must be two non-negative integers", "m", 9);
    row("three offsets",
        file("{\"m\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1),
        "\"data_offsets\" must be two", "m", 9);
    row("tensor not an object", file("{\"m\":5}", 0), "tensor entry must be an object", "m", 9);
    row("duplicate tensor", file("{" + a + "," + a + "}", 8), "duplicate tensor name", "a",
        8 + 1 + a.size() + 1);
    row("number overflow", file("{\"a\":1e400}", 0), "invalid JSON", "safetensors header", 8);
}

void TestSafetensorsReader::headers()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, error);
    QFETCH(QString, record);
    QFETCH(qint64, offset);
    const Buffer buf(bytes);
    try {
        const SafetensorsHeader h = readSafetensorsHeader(buf.view(), "t.safetensors");
        QVERIFY2(error.isNull(), "expected an error");
        for (const SafetensorsEntry &t : h.tensors)
            QVERIFY(h.dataStart + t.end <= buf.size);
    } catch (const FormatError &e) {
        QVERIFY2(!error.isNull(), e.what());
        QVERIFY2(QString::fromUtf8(e.what()).contains(error), e.what());
        QCOMPARE(QString::fromStdString(e.record()), record);
        QVERIFY2(errorIsLocated(e, buf.size), e.what());
        if (offset >= 0)
            QCOMPARE(e.offset(), std::uint64_t(offset));
    }
}

void TestSafetensorsReader::truncatedEverywhere()
{
    const QByteArray h = "{\"__metadata__\":{\"format\":\"pt\"},"
                         + tensor("w", "F32", "[2,2]", 0, 16) + ","
                         + tensor("b", "BF16", "[3]", 16, 22) + "}";
    const QByteArray bytes = file(h, 22);
    for (qsizetype n = 0; n < bytes.size(); ++n) {
        const Buffer buf(bytes.left(n));
        QVERIFY(!probeSafetensors(buf.view()) || n >= 8 + h.size());
        try {
            readSafetensorsHeader(buf.view());
            QFAIL(qPrintable(QStringLiteral("truncation to %1 bytes accepted").arg(n)));
        } catch (const FormatError &e) {
            QVERIFY2(errorIsLocated(e, buf.size), e.what());
        }
    }
}

void TestSafetensorsReader::probe_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("expected");
    QTest::newRow("valid") << file("{}", 0) << true;
    QTest::newRow("not an object") << file("[]", 0) << false;
    QTest::newRow("length too large") << le64(1ull << 40) + "{}" << false;
    QTest::newRow("length 2^64-1") << le64(~0ull) + "{}" << false;
    QTest::newRow("short") << QByteArray("\x02\0\0\0", 4) << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("zip") << QByteArray("PK\3\4\0\0\0\0\0\0\0\0", 12) << false;
}

void TestSafetensorsReader::probe()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, expected);
    const Buffer buf(bytes);
    QCOMPARE(probeSafetensors(buf.view()), expected);
}

void TestSafetensorsReader::index()
{
    const QByteArray json =
        "\xEF\xBB\xBF{\n \"metadata\": {\"total_size\": 123456, \"ratio\": 0.5, \"name\": \"m\","
        " \"flag\": true},\n \"extra_field\": [1, 2],\n \"weight_map\": {\n"
        "  \"layer.1.w\": \"model-00002-of-00002.safetensors\",\n"
        "  \"layer.0.w\": \"model-00001-of-00002.safetensors\",\n"
        "  \"layer.0.b\": \"model-00001-of-00002.safetensors\",\n"
        "  \"emb\": \"sub/dir/model-00002-of-00002.safetensors\"\n }\n}\n";
    const Buffer buf(json);
    QVERIFY(probeShardIndex(buf.view()));
    const ShardIndex idx = readShardIndex(buf.view(), "model.safetensors.index.json");
    using P = std::pair<std::string, std::string>;
    QCOMPARE(idx.weightMap, (std::vector<P>{{"layer.1.w", "model-00002-of-00002.safetensors"},
                                            {"layer.0.w", "model-00001-of-00002.safetensors"},
                                            {"layer.0.b", "model-00001-of-00002.safetensors"},
                                            {"emb", "sub/dir/model-00002-of-00002.safetensors"}}));
    QCOMPARE(idx.shards, (std::vector<std::string>{"model-00002-of-00002.safetensors",
                                                   "model-00001-of-00002.safetensors",
                                                   "sub/dir/model-00002-of-00002.safetensors"}));
    QCOMPARE(idx.metadata, (std::vector<P>{{"total_size", "123456"},
                                           {"ratio", "0.5"},
                                           {"name", "m"},
                                           {"flag", "true"}}));
}

void TestSafetensorsReader::badIndex_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("error");
    QTest::addColumn<QString>("record");
    QTest::addColumn<qint64>("offset");
    const QString file = QStringLiteral("i.json");
    QTest::newRow("absolute") << QByteArray("{\"weight_map\": {\"a\": \"/etc/passwd\"}}")
                              << QStringLiteral("is an absolute path") << QStringLiteral("a")
                              << qint64(16);
    QTest::newRow("windows absolute") << QByteArray("{\"weight_map\": {\"a\": \"C:\\\\x.bin\"}}")
                                      << QStringLiteral("is an absolute path")
                                      << QStringLiteral("a") << qint64(16);
    QTest::newRow("dot-dot") << QByteArray(
        "{\"weight_map\": {\"a\": \"x.bin\", \"b\": \"../x.bin\"}}")
                             << QStringLiteral("contains a '..' path component")
                             << QStringLiteral("b") << qint64(30);
    QTest::newRow("dot-dot inside") << QByteArray("{\"weight_map\": {\"a\": \"d/../../x\"}}")
                                    << QStringLiteral("'..'") << QStringLiteral("a")
                                    << qint64(16);
    QTest::newRow("non-string shard") << QByteArray("{\"weight_map\": {\"a\": 3}}")
                                      << QStringLiteral("shard name must be a string")
                                      << QStringLiteral("a") << qint64(16);
    QTest::newRow("empty shard") << QByteArray("{\"weight_map\": {\"a\": \"\"}}")
                                 << QStringLiteral("empty shard name") << QStringLiteral("a")
                                 << qint64(16);
    QTest::newRow("no weight_map") << QByteArray("{\"metadata\": {}}")
                                   << QStringLiteral("no \"weight_map\"") << file << qint64(0);
    QTest::newRow("weight_map array") << QByteArray("{\"weight_map\": []}")
                                      << QStringLiteral("must be an object") << file << qint64(1);
    QTest::newRow("not an object") << QByteArray("[]") << QStringLiteral("not a JSON object")
                                   << file << qint64(0);
    QTest::newRow("invalid JSON") << QByteArray("{\"weight_map\": {\"a\": \"x\",}}")
                                  << QStringLiteral("invalid JSON") << file << qint64(25);
    QTest::newRow("duplicate tensor")
        << QByteArray("{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}")
        << QStringLiteral("listed twice") << QStringLiteral("a") << qint64(26);
}

void TestSafetensorsReader::badIndex()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, error);
    QFETCH(QString, record);
    QFETCH(qint64, offset);
    const Buffer buf(json);
    try {
        readShardIndex(buf.view(), "i.json");
        QFAIL("expected an error");
    } catch (const FormatError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(error), e.what());
        QCOMPARE(QString::fromStdString(e.record()), record);
        QVERIFY2(errorIsLocated(e, buf.size), e.what());
        QCOMPARE(e.offset(), std::uint64_t(offset));
    }
}

void TestSafetensorsReader::probeIndex_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("expected");
    QTest::newRow("index") << QByteArray(" {\"weight_map\": {}}") << true;
    QTest::newRow("other json") << QByteArray("{\"a\": 1}") << false;
    QTest::newRow("array") << QByteArray("[\"weight_map\"]") << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("safetensors") << file("{\"weight_map\":1}", 0) << false;
}

void TestSafetensorsReader::probeIndex()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, expected);
    const Buffer buf(bytes);
    QCOMPARE(probeShardIndex(buf.view()), expected);
}

QTEST_GUILESS_MAIN(TestSafetensorsReader)
#include "tst_safetensorsreader.moc"

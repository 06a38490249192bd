#include "engine/io/Safetensors.h"

#include "engine/core/OutputFile.h"

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Sha256.h"
#include "engine/io/MappedFiles.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kme {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The reference implementation's limit: a larger header is hostile, not big.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string errnoText() { return std::strerror(errno); }

std::string absolutePath(const std::string& path) {
    std::error_code ec;
    const fs::path abs = fs::absolute(path, ec);
    return ec ? path : abs.lexically_normal().string();
}

std::string shapeText(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Element count of `shape`, or false when a dimension is negative or the
// byte count (numel * elementSize) would not fit in int64.
bool checkedNumel(const std::vector<int64_t>& shape, size_t elementSize, uint64_t& numel) {
    constexpr uint64_t kMax = uint64_t(std::numeric_limits<int64_t>::max());
    numel = 1;
    bool zero = false;  // a 0 dimension makes any other size harmless
    for (int64_t d : shape) {
        if (d < 0) return false;
        if (d == 0) zero = true;
    }
    if (zero) {
        numel = 0;
        return true;
    }
    for (int64_t d : shape) {
        if (numel > kMax / uint64_t(d)) return false;
        numel *= uint64_t(d);
    }
    return numel <= kMax / elementSize;
}

// Closes a descriptor on every exit path.
struct FileDescriptor {
    int fd = -1;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
};

void preadExact(int fd, void* dst, size_t n, uint64_t offset, const std::string& path) {
    auto* p = static_cast<uint8_t*>(dst);
    while (n > 0) {
        const ssize_t got = ::pread(fd, p, n, off_t(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) fail(ErrorKind::Io, path + ": cannot read: " + errnoText());
        if (got == 0) fail(ErrorKind::Format, path + ": file ended while reading (was it truncated?)");
        p += got;
        n -= size_t(got);
        offset += uint64_t(got);
    }
}

// One validated header entry; `view.data` is filled in once the file is mapped.
struct Entry {
    TensorView view;
    uint64_t begin = 0;  // byte offset into the data buffer
    uint64_t end = 0;    // one past the last byte
};

Entry parseEntry(const std::string& path, const std::string& name, const json& v, uint64_t dataSize) {
    const std::string where = path + ": tensor " + quoteForMessage(name) + ": ";
    auto bad = [&](const std::string& what) { fail(ErrorKind::Format, where + what); };
    if (!v.is_object()) bad("entry is not a JSON object");

    Entry e;
    e.view.name = name;
    e.view.file = path;
    const auto dtype = v.find("dtype");
    if (dtype == v.end()) bad("missing \"dtype\"");
    if (!dtype->is_string()) bad("\"dtype\" is not a string");
    const auto parsed = parseDType(dtype->get<std::string>());
    if (!parsed) bad("unsupported dtype " + quoteForMessage(dtype->get<std::string>(), 40) +
        " (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    e.view.dtype = *parsed;

    const auto shape = v.find("shape");
    if (shape == v.end()) bad("missing \"shape\"");
    if (!shape->is_array()) bad("\"shape\" is not an array");
    for (const json& d : *shape) {
        // JSON parses non-negative literals as unsigned, negative ones as signed.
        if (d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()))
            e.view.shape.push_back(d.get<int64_t>());
        else if (d.is_number_integer() && !d.is_number_unsigned())
            bad("negative dimension in shape " + jsonExcerpt(*shape));
        else
            bad("shape " + jsonExcerpt(*shape) + " is not a list of non-negative integers");
    }
    uint64_t numel = 0;
    const size_t elementSize = dtypeSize(e.view.dtype);
    if (!checkedNumel(e.view.shape, elementSize, numel))
        bad("shape " + shapeText(e.view.shape) + " is too large (size overflows)");
    const uint64_t expected = numel * elementSize;

    const auto offsets = v.find("data_offsets");
    if (offsets == v.end()) bad("missing \"data_offsets\"");
    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
        bad("data_offsets " + jsonExcerpt(*offsets) + " are not two non-negative integers");
    e.begin = (*offsets)[0].get<uint64_t>();
    e.end = (*offsets)[1].get<uint64_t>();
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
    if (e.begin > e.end) bad("data_offsets " + range + " begin after end");
    if (e.end > dataSize)
        bad("data_offsets " + range + " run past the data (" + std::to_string(dataSize) + " bytes)");
    if (e.end - e.begin != expected)
        bad("data_offsets " + range + " do not match shape " + shapeText(e.view.shape) + " of " +
            dtypeName(e.view.dtype) + " (" + std::to_string(expected) + " bytes)");
    e.view.nbytes = size_t(expected);
    return e;
}

std::map<std::string, std::string> parseMetadata(const std::string& path, const json& v) {
    std::map<std::string, std::string> out;
    if (v.is_null()) return out;  // the reference writer's "no metadata"
    if (!v.is_object()) fail(ErrorKind::Format, path + ": __metadata__ is not a JSON object");
    for (const auto& [key, value] : v.items()) {
        if (!value.is_string())
            fail(ErrorKind::Format, path + ": __metadata__ key " + quoteForMessage(key) + ": value " +
                                        jsonExcerpt(value) + " is not a string");
        out[key] = value.get<std::string>();
    }
    return out;
}

// Parses JSON and rejects duplicate keys of the top-level object, which a
// plain parse would silently collapse to the last one.
json parseHeaderJson(const std::string& path, const std::string& text) {
    std::set<std::string> keys;
    std::string duplicate;
    json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second)
            duplicate = parsed.get<std::string>();
        return true;
    };
    // Nesting is checked before parsing: a 100,000-deep __metadata__ must not
    // recurse (the parse callback, dump() and destruction would).
    if (jsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
        fail(ErrorKind::Format, path + ": header JSON nested more than " + std::to_string(kMaxJsonDepth) +
                                    " levels deep (refused: no real file nests that deep)");
    json header;
    try {
        header = json::parse(text, callback);
    } catch (const json::parse_error& ex) {
        fail(ErrorKind::Format, path + ": header is not valid JSON (syntax error at byte " + std::to_string(ex.byte) + ")");
    } catch (const std::exception&) {
        fail(ErrorKind::Format, path + ": header is not valid JSON");
    }
    if (!header.is_object()) fail(ErrorKind::Format, path + ": header JSON is not an object");
    if (!duplicate.empty())
        fail(ErrorKind::Format, path + ": tensor " + quoteForMessage(duplicate) + " appears twice in the header");
    return header;
}

}  // namespace

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // validated at load: cannot overflow
    return n;
}

SafetensorsFile::~SafetensorsFile() {
    if (mapping_) {
        unregisterMappedFile(mapping_);
        ::munmap(mapping_, size_);
    }
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& pathIn) {
    const std::string path = absolutePath(pathIn);
    FileDescriptor f;
    // A FIFO, device or folder is named, never opened (a FIFO would block);
    // O_NONBLOCK covers one swapped in after the check.
    const std::string reason = notRegularFileReason(path);
    if (!reason.empty()) fail(ErrorKind::Io, path + ": cannot open the safetensors file (" + reason + ")");
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f.fd < 0) fail(ErrorKind::Io, path + ": cannot open: " + errnoText());
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) fail(ErrorKind::Io, path + ": cannot stat: " + errnoText());
    if (!S_ISREG(st.st_mode)) fail(ErrorKind::Io, path + ": not a regular file");
    const uint64_t size = uint64_t(st.st_size);
    if (size < 8)
        fail(ErrorKind::Format, path + ": file is " + std::to_string(size) +
                                    " bytes, too short for the 8-byte header length");

    // Index and validate from plain reads; map only a file known to be sound.
    uint8_t lengthBytes[8];
    preadExact(f.fd, lengthBytes, 8, 0, path);
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | lengthBytes[i];
    if (headerLength > kMaxHeaderBytes)
        fail(ErrorKind::Format, path + ": header length " + std::to_string(headerLength) +
                                    " exceeds the 100 MB limit");
    if (headerLength > size - 8)
        fail(ErrorKind::Format, path + ": header length " + std::to_string(headerLength) +
                                    " runs past the end of the file (" + std::to_string(size) + " bytes)");
    std::string text(size_t(headerLength), '\0');
    preadExact(f.fd, text.data(), text.size(), 8, path);
    const json header = parseHeaderJson(path, text);

    const uint64_t dataStart = 8 + headerLength;
    const uint64_t dataSize = size - dataStart;
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->path_ = path;
    std::vector<Entry> entries;
    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__")
            file->metadata_ = parseMetadata(path, value);
        else
            entries.push_back(parseEntry(path, key, value, dataSize));
    }

    // Overlap check in offset order. Empty tensors hold no bytes, so they
    // cannot overlap anything, wherever they point.
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return std::tie(a.begin, a.end, a.view.name) < std::tie(b.begin, b.end, b.view.name);
    });
    const Entry* furthest = nullptr;  // the non-empty tensor reaching furthest so far
    for (const Entry& e : entries) {
        if (e.begin == e.end) continue;
        if (furthest && e.begin < furthest->end)
            fail(ErrorKind::Format, path + ": tensor " + quoteForMessage(e.view.name) + ": data_offsets [" +
                                        std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                        ") overlap tensor " + quoteForMessage(furthest->view.name) + " [" +
                                        std::to_string(furthest->begin) + ", " +
                                        std::to_string(furthest->end) + ")");
        if (!furthest || e.end > furthest->end) furthest = &e;
    }

    if (size > std::numeric_limits<size_t>::max()) fail(ErrorKind::Io, path + ": file too large to map");
    void* m = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (m == MAP_FAILED) fail(ErrorKind::Io, path + ": cannot mmap: " + errnoText());
    file->mapping_ = m;
    file->size_ = size_t(size);
    registerMappedFile(m, size_t(size), path);
    const auto* data = static_cast<const uint8_t*>(m) + dataStart;
    for (Entry& e : entries) {
        e.view.data = data + e.begin;
        file->byName_[e.view.name] = file->tensors_.size();
        file->tensors_.push_back(std::move(e.view));
    }
    return file;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    const auto it = byName_.find(name);
    return it == byName_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------- Checkpoint

Checkpoint Checkpoint::openFile(const std::string& path) {
    Checkpoint c;
    c.addShard(SafetensorsFile::open(path));
    c.source_ = c.files_.front();
    c.finish();
    return c;
}

Checkpoint Checkpoint::openFolder(const std::string& folder) {
    const fs::path dir = absolutePath(folder);
    std::error_code ec;
    const std::string single = (dir / kSingleFile).string();
    if (fs::is_regular_file(single, ec)) return openFile(single);
    // model.safetensors that exists but is no file (a folder, FIFO, symlink
    // loop, dangling symlink) is named as such, not reported as missing.
    struct stat lst {};
    if (::lstat(single.c_str(), &lst) == 0)
        fail(ErrorKind::Io, single + ": cannot read the weights (" + notRegularFileReason(single) + ")");
    const std::string index = (dir / kIndexFile).string();
    if (::lstat(index.c_str(), &lst) != 0)
        fail(ErrorKind::Io, std::string("no ") + kSingleFile + " or " + kIndexFile + " in " + dir.string());

    // The index is small (names only); read it whole, with the header's cap.
    const json j = parseJson(readRegularFile(index, "safetensors index", kMaxHeaderBytes), index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        fail(ErrorKind::Format, index + ": no \"weight_map\" object");
    if (j["weight_map"].empty()) fail(ErrorKind::Format, index + ": \"weight_map\" is empty");

    std::map<std::string, std::vector<std::string>> byShard;  // shard file name -> tensor names
    for (const auto& [name, shard] : j["weight_map"].items()) {
        if (!shard.is_string())
            fail(ErrorKind::Format, index + ": tensor " + quoteForMessage(name) + ": shard is not a string");
        const std::string file = shard.get<std::string>();
        // Shards live next to the index; refuse anything that could escape.
        const fs::path p(file);
        if (file.empty() || p.is_absolute() ||
            std::any_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; }))
            fail(ErrorKind::Format, index + ": tensor " + quoteForMessage(name) + ": shard name " +
                                        quoteForMessage(file) + " is not a file name inside the folder");
        byShard[file].push_back(name);
    }

    Checkpoint c;
    c.source_ = index;
    c.sharded_ = true;
    for (const auto& [file, names] : byShard) {
        std::shared_ptr<SafetensorsFile> shard;
        try {
            shard = SafetensorsFile::open((dir / file).string());
        } catch (const Error& e) {
            fail(e.kind(), index + ": shard " + quoteForMessage(file) + " (listed for tensor " +
                               quoteForMessage(names.front()) + "): " + e.what());
        }
        for (const std::string& name : names)
            if (!shard->find(name))
                fail(ErrorKind::Format, index + ": tensor " + quoteForMessage(name) + " is listed in shard " +
                                            quoteForMessage(file) + " but absent from " + shard->path());
        c.addShard(std::move(shard));
    }
    c.finish();
    return c;
}

void Checkpoint::addShard(std::shared_ptr<SafetensorsFile> shard) {
    files_.push_back(shard->path());
    tensors_.insert(tensors_.end(), shard->tensors().begin(), shard->tensors().end());
    shards_.push_back(std::move(shard));
}

void Checkpoint::finish() {
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (i > 0 && tensors_[i].name == tensors_[i - 1].name)
            fail(ErrorKind::Format, source_ + ": tensor " + quoteForMessage(tensors_[i].name) + " appears in two shards: " +
                                        tensors_[i - 1].file + " and " + tensors_[i].file);
        byName_[tensors_[i].name] = i;
    }
}

const TensorView* Checkpoint::find(const std::string& name) const {
    const auto it = byName_.find(name);
    return it == byName_.end() ? nullptr : &tensors_[it->second];
}

// -------------------------------------------------------------------- writer

namespace {

// Throws unless t's bytes agree with its dtype and shape. `where` names the
// file being written or the operation.
void checkTensorData(const TensorData& t, const std::string& where) {
    const std::string prefix = where + ": tensor '" + t.name + "': ";
    uint64_t numel = 0;
    if (!checkedNumel(t.shape, dtypeSize(t.dtype), numel))
        fail(ErrorKind::Format, prefix + "invalid shape " + shapeText(t.shape));
    const uint64_t expected = numel * dtypeSize(t.dtype);
    if (t.nbytes != expected)
        fail(ErrorKind::Format, prefix + std::to_string(t.nbytes) + " bytes do not match shape " +
                                    shapeText(t.shape) + " of " + dtypeName(t.dtype) + " (" +
                                    std::to_string(expected) + " bytes)");
    if (t.nbytes > 0 && !t.data) fail(ErrorKind::Format, prefix + "no data");
}

// A file or folder name that stays inside its folder.
bool isPlainFileName(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

TensorData asTensorData(const TensorView& view) {
    return TensorData{view.name, view.dtype, view.shape, view.data, view.nbytes};
}

namespace {

// The 8-byte length and header JSON of a safetensors file holding `tensors`
// in this order (metadata first), padded with spaces to a multiple of 8.
std::string safetensorsHead(const std::string& path, const std::vector<TensorData>& tensors,
                            const std::map<std::string, std::string>& metadata) {
    // ordered_json keeps the reference writer's order: metadata, then tensors
    // in the order their bytes follow.
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const TensorData& t : tensors) {
        checkTensorData(t, path);
        if (t.name == "__metadata__" || !names.insert(t.name).second)
            fail(ErrorKind::Format, path + ": tensor '" + t.name + "': duplicate or reserved name");
        header[t.name] = {{"dtype", dtypeName(t.dtype)}, {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.nbytes}}};
        offset += t.nbytes;
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& ex) {  // e.g. a name that is not UTF-8
        fail(ErrorKind::Format, path + ": cannot encode the header: " + ex.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // the reference pads to 8 bytes
    std::string head(8, '\0');
    for (int i = 0; i < 8; ++i) head[i] = char(uint8_t(uint64_t(text.size()) >> (8 * i)));
    return head + text;
}

}  // namespace

void writeSafetensors(const std::string& path, const std::vector<TensorData>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    const std::string head = safetensorsHead(path, tensors, metadata);
    std::vector<std::pair<const void*, size_t>> pieces{{head.data(), head.size()}};
    for (const TensorData& t : tensors)
        if (t.nbytes > 0) pieces.emplace_back(t.data, t.nbytes);
    writeFileAtomically(path, pieces, "safetensors file");
}

void writeSafetensorsStreamed(const std::string& path, const std::vector<TensorData>& tensorsIn,
                              const std::function<void(size_t index, void* dst)>& fill,
                              const std::map<std::string, std::string>& metadata) {
    static const char dummy = 0;
    std::vector<TensorData> tensors = tensorsIn;
    for (TensorData& t : tensors) t.data = &dummy;  // bytes come from fill
    const std::string head = safetensorsHead(path, tensors, metadata);
    const std::string tmp = path + ".kme-partial";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(ErrorKind::Io, path + ": cannot write (" + std::strerror(errno) + ")");
    bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
    try {
        std::vector<uint8_t> buffer;
        for (size_t i = 0; ok && i < tensors.size(); ++i) {
            if (tensors[i].nbytes == 0) continue;
            buffer.assign(tensors[i].nbytes, 0);
            fill(i, buffer.data());
            ok = std::fwrite(buffer.data(), 1, buffer.size(), f) == buffer.size();
        }
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp.c_str());
        fail(ErrorKind::Io, path + ": cannot write (" + why + ")");
    }
}

void writeShardedSafetensors(const std::string& folder,
                             const std::vector<std::pair<std::string, std::vector<TensorData>>>& shards,
                             const std::map<std::string, std::string>& metadata) {
    const std::string index = (fs::path(folder) / kIndexFile).string();
    // Check everything before writing anything.
    json weightMap = json::object();
    uint64_t totalSize = 0;
    std::set<std::string> shardNames;
    for (const auto& [file, tensors] : shards) {
        if (!isPlainFileName(file) || file == kIndexFile || !shardNames.insert(file).second)
            fail(ErrorKind::Format, index + ": shard name '" + file + "' is invalid or used twice");
        for (const TensorData& t : tensors) {
            if (weightMap.contains(t.name))
                fail(ErrorKind::Format, index + ": tensor '" + t.name + "' is in two shards");
            weightMap[t.name] = file;
            totalSize += t.nbytes;
        }
    }
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) fail(ErrorKind::Io, folder + ": cannot create folder: " + ec.message());

    for (const auto& [file, tensors] : shards) writeSafetensors((fs::path(folder) / file).string(), tensors, metadata);

    json meta = json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    meta["total_size"] = totalSize;
    const std::string text = json{{"metadata", meta}, {"weight_map", weightMap}}.dump(2) + "\n";
    writeFileAtomically(index, text, "safetensors index");
}

void feedWeightsHash(Sha256& h, const TensorData& t) {
    checkTensorData(t, "weights hash");
    const char zero = 0;
    std::string shape;
    for (size_t d = 0; d < t.shape.size(); ++d) shape += (d ? "," : "") + std::to_string(t.shape[d]);
    uint8_t count[8];
    for (int b = 0; b < 8; ++b) count[b] = uint8_t(uint64_t(t.nbytes) >> (8 * b));
    h.update(t.name);
    h.update(&zero, 1);
    h.update(std::string_view(dtypeName(t.dtype)));
    h.update(&zero, 1);
    h.update(shape);
    h.update(&zero, 1);
    h.update(count, 8);
    if (t.nbytes > 0) h.update(t.data, t.nbytes);
}

std::string weightsHash(std::vector<TensorData> tensors) {
    std::sort(tensors.begin(), tensors.end(), [](const TensorData& a, const TensorData& b) { return a.name < b.name; });
    Sha256 h;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (i > 0 && tensors[i].name == tensors[i - 1].name)
            fail(ErrorKind::Format, "weights hash: tensor '" + tensors[i].name + "' appears twice");
        feedWeightsHash(h, tensors[i]);
    }
    return h.hexDigest();
}

}  // namespace kme

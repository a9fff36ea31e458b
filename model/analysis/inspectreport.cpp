// SPDX-License-Identifier: MIT
#include "inspectreport.h"

#include "parallelwork.h"
#include "checkpointtotals.h"
#include "trainingstate.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <numeric>
#include <queue>
#include <thread>

#include <fnmatch.h>

namespace ckpt {

using namespace ckpt::format;

namespace {

Json intArray(const std::vector<std::int64_t> &v)
{
    Json a = Json::array();
    for (auto x : v)
        a.push_back(x);
    return a;
}

Json errorJson(const ReadError &e)
{
    Json j;
    j["kind"] = kindName(e.kind);
    j["message"] = e.message;
    j["record"] = e.record.empty() ? Json(nullptr) : Json(e.record);
    j["offset"] = e.offset == FormatError::kNoOffset ? Json(nullptr) : Json(e.offset);
    j["text"] = e.text();
    return j;
}

std::string shapeText(const std::vector<std::int64_t> &shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

/// Aligned text table; the last column is left unpadded.
std::string table(const std::vector<std::vector<std::string>> &rows, const std::vector<bool> &rightAlign)
{
    if (rows.empty())
        return {};
    std::size_t columns = 0;
    for (const auto &row : rows)
        columns = std::max(columns, row.size());
    std::vector<std::size_t> width(columns, 0);
    for (const auto &row : rows)
        for (std::size_t c = 0; c < row.size(); ++c)
            width[c] = std::max(width[c], row[c].size());
    std::size_t lineMax = 1;
    for (std::size_t w : width)
        lineMax += w + 2;
    // One buffer, written in place (100,000-row listings: no per-cell temporaries).
    std::string out;
    out.reserve(rows.size() * lineMax);
    for (const auto &row : rows) {
        const std::size_t start = out.size();
        for (std::size_t c = 0; c < row.size(); ++c) {
            const bool last = c + 1 == row.size();
            const std::size_t pad = width[c] - row[c].size();
            if (c)
                out.append(2, ' ');
            if (c < rightAlign.size() && rightAlign[c]) {
                out.append(pad, ' ');
                out += row[c];
            } else {
                out += row[c];
                if (!last)
                    out.append(pad, ' ');
            }
        }
        while (out.size() > start && out.back() == ' ')
            out.pop_back();
        out += '\n';
    }
    return out;
}

std::string numberText(const Json &v)
{
    if (v.is_null())
        return "-";
    if (v.is_number_float()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
        return buf;
    }
    return dumpJson(v, -1);
}

} // namespace

Json optionalNumber(const std::optional<double> &v)
{
    if (!v || !std::isfinite(*v))
        return nullptr;
    return *v;
}

std::string textTable(const std::vector<std::vector<std::string>> &rows, const std::vector<bool> &rightAlign)
{
    return table(rows, rightAlign);
}

std::string shapeString(const std::vector<std::int64_t> &shape)
{
    return shapeText(shape);
}

std::string dumpJson(const Json &json, int indent)
{
    return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string humanBytesText(std::uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024)
        return std::to_string(bytes) + " B";
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

std::string errorLine(const CheckpointData &data)
{
    if (!data.error)
        return {};
    return data.file + ": " + data.error->text();
}

Json totalsJson(const CheckpointTotals &t)
{
    Json j;
    j["paths"] = t.paths;
    j["tensors"] = t.tensors;
    j["storages"] = t.storages;
    j["elements"] = t.elements;
    j["bytes"] = t.bytes;
    auto count = [](const TensorCount &c) {
        Json k;
        k["tensors"] = c.tensors;
        k["elements"] = c.elements;
        return k;
    };
    if (t.hasModel) {
        Json m;
        m["path"] = t.modelPath;
        m["parameters"] = count(t.parameters);
        m["buffers"] = count(t.buffers);
        j["model"] = std::move(m);
    } else {
        j["model"] = nullptr;
    }
    j["other"] = count(t.other);
    return j;
}

std::string totalsText(const CheckpointTotals &t, std::string_view format)
{
    std::string out = std::to_string(t.tensors) + (t.tensors == 1 ? " tensor" : " tensors");
    if (t.paths != t.tensors)
        out += " at " + std::to_string(t.paths) + (t.paths == 1 ? " path" : " paths");
    out += ", " + std::to_string(t.storages) + (t.storages == 1 ? " storage" : " storages") + ", "
           + std::to_string(t.elements) + " elements, " + humanBytesText(t.bytes) + " (" + std::string(format) + ")\n";
    if (t.hasModel) {
        out += "model" + (t.modelPath.empty() ? std::string(" (the root)") : " at " + t.modelPath) + ": "
               + std::to_string(t.parameters.elements) + " parameters in " + std::to_string(t.parameters.tensors)
               + " tensors, " + std::to_string(t.buffers.elements) + " buffer elements in "
               + std::to_string(t.buffers.tensors) + " tensors";
        if (t.other.tensors)
            out += "; other tensors: " + std::to_string(t.other.tensors) + " (" + std::to_string(t.other.elements)
                   + " elements)";
        out += '\n';
    }
    return out;
}

Json lsReport(const CheckpointData &data)
{
    Json j;
    j["file"] = data.file;
    j["format"] = formatName(data.format);
    if (!data.members.empty()) {
        Json members = Json::array();
        for (const CheckpointData::Member &m : data.members)
            members.push_back({{"key", m.key}, {"file", m.file}, {"format", formatName(m.format)}});
        j["members"] = std::move(members);
    }
    Json tensors = Json::array();
    const std::vector<TrainingItem> items = findTrainingState(data);
    const OptimizerStateNames names = optimizerStateNames(data, items);
    for (const TensorPath &p : data.paths) {
        const TensorInfo &t = data.tensors[static_cast<std::size_t>(p.tensor)];
        Json e;
        e["path"] = p.path();
        e["keys"] = p.keys;
        if (const std::string *name = names.nameOf(p.keys))
            e["param_name"] = *name; // optimizer state: its parameter
        e["dtype"] = dtypeName(t.dtype);
        e["shape"] = intArray(t.shape);
        e["stride"] = intArray(t.stride);
        e["storage_offset"] = t.storageOffset;
        e["storage"] = t.storage >= 0 ? Json(data.storages[static_cast<std::size_t>(t.storage)].key) : Json(nullptr);
        e["numel"] = t.numel();
        e["nbytes"] = t.nbytes();
        e["layout"] = layoutName(t.layout);
        e["requires_grad"] = t.requiresGrad;
        e["device"] = t.device;
        if (t.isParameter)
            e["parameter"] = true;
        if (t.quant) {
            Json q;
            q["scheme"] = t.quant->scheme;
            if (!t.quant->perChannel()) {
                q["scale"] = t.quant->scale;
                q["zero_point"] = t.quant->zeroPoint;
            } else {
                q["axis"] = t.quant->axis;
            }
            e["quantization"] = q;
        }
        if (!t.subclass.empty())
            e["subclass"] = t.subclass;
        if (static_cast<std::size_t>(p.tensor) < data.shardOfTensor.size()
            && !data.shardOfTensor[static_cast<std::size_t>(p.tensor)].empty())
            e["shard"] = data.shardOfTensor[static_cast<std::size_t>(p.tensor)];
        if (static_cast<std::size_t>(p.tensor) < data.chunksOfTensor.size()
            && !data.chunksOfTensor[static_cast<std::size_t>(p.tensor)].empty()) {
            Json chunks = Json::array(); // DCP: who holds which piece
            for (const TensorChunk &c : data.chunksOfTensor[static_cast<std::size_t>(p.tensor)])
                chunks.push_back({{"offsets", intArray(c.offsets)}, {"sizes", intArray(c.sizes)}, {"file", c.file},
                                  {"rank", c.rank >= 0 ? Json(c.rank) : Json(nullptr)},
                                  {"offset", c.byteOffset}, {"length", c.byteLength}});
            e["chunks"] = std::move(chunks);
        }
        tensors.push_back(std::move(e));
    }
    j["tensors"] = std::move(tensors);
    j["totals"] = totalsJson(checkpointTotals(data, items));
    Json warnings = Json::array();
    for (const ReadWarning &w : data.warnings)
        warnings.push_back(w.text());
    j["warnings"] = std::move(warnings);
    if (!data.metadata.empty()) {
        Json m = Json::object();
        for (const auto &[k, v] : data.metadata)
            m[k] = v;
        j["metadata"] = std::move(m);
    }
    if (data.error)
        j["error"] = errorJson(*data.error);
    return j;
}

std::vector<const TensorPath *> matchingPaths(const CheckpointData &data, const std::vector<std::string> &patterns)
{
    std::vector<const TensorPath *> out;
    for (const TensorPath &p : data.paths) {
        if (patterns.empty()) {
            out.push_back(&p);
            continue;
        }
        const std::string path = p.path();
        for (const std::string &pattern : patterns)
            if (pattern == path || ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0) {
                out.push_back(&p);
                break;
            }
    }
    return out;
}

StatsSchedule statsSchedule(const std::vector<std::uint64_t> &numel, unsigned cores)
{
    // Tensors below this size are never split across threads.
    constexpr std::uint64_t kSmall = 1u << 20;
    // Whole tensors side by side, one per thread, wherever the load stays balanced: a tensor
    // split across threads pays a barrier after each of its two passes and drops its pages on
    // one thread while the others wait (issue 7, B3: 64 tensors of 16 MiB took 1.6x the machine's
    // floor split, 1.2x side by side; the floor reads whole blocks per thread). Largest first:
    //  1. a tensor that outweighs all the work after it (times the threads) runs alone;
    //  2. then big tensors side by side, as the threads take them in order, and the last few of
    //     them alone, where that ends sooner (e.g. an odd one out on two threads);
    //  3. the small ones side by side.
    StatsSchedule plan;
    const std::size_t count = numel.size();
    plan.order.resize(count);
    std::iota(plan.order.begin(), plan.order.end(), std::size_t(0));
    std::stable_sort(plan.order.begin(), plan.order.end(),
                     [&](std::size_t a, std::size_t b) { return numel[a] > numel[b]; });
    plan.alone.assign(count, false);
    if (cores <= 1)
        return plan;
    auto size = [&](std::size_t k) { return static_cast<double>(numel[plan.order[k]]); }; // numel < 2^63
    const double threads = cores;
    std::size_t big = 0;
    while (big < count && numel[plan.order[big]] >= kSmall)
        ++big;
    double remaining = 0;
    for (std::uint64_t n : numel)
        remaining += static_cast<double>(n);
    std::size_t first = 0;
    for (; first < big && size(first) * threads > remaining; ++first) {
        plan.alone[plan.order[first]] = true;
        remaining -= size(first);
    }
    // Step 2: the first `j` of order[first, big) side by side, then the rest alone, with the j
    // that finishes first (ties: more side by side). Side by side ends with the busiest thread.
    std::vector<double> tail(big - first + 1, 0.0); // work of order[first + j, big)
    for (std::size_t j = big - first; j-- > 0;)
        tail[j] = tail[j + 1] + size(first + j);
    std::priority_queue<double, std::vector<double>, std::greater<>> loads;
    for (unsigned t = 0; t < cores; ++t)
        loads.push(0.0);
    double busiest = 0;
    std::size_t bestJ = 0;
    double best = tail[0] / threads;
    for (std::size_t j = 1; j <= big - first; ++j) {
        const double load = loads.top() + size(first + j - 1);
        loads.pop();
        loads.push(load);
        busiest = std::max(busiest, load);
        const double end = busiest + tail[j] / threads;
        if (end <= best) {
            best = end;
            bestJ = j;
        }
    }
    for (std::size_t k = first + bestJ; k < big; ++k)
        plan.alone[plan.order[k]] = true;
    return plan;
}

std::vector<TensorStatsResult> computeAllStats(const CheckpointData &data, const std::vector<int> &tensors,
                                               const StatsSelection &request)
{
    std::vector<TensorStatsResult> results(tensors.size());
    const unsigned cores = request.threads ? request.threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::uint64_t> numel(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i)
        numel[i] = data.tensors[static_cast<std::size_t>(tensors[i])].numel();
    const StatsSchedule plan = statsSchedule(numel, cores);
    const std::vector<std::size_t> &order = plan.order;
    const std::vector<bool> &alone = plan.alone;

    std::atomic<std::size_t> done{0};
    std::atomic<bool> cancelled{false};
    std::mutex progressMutex;
    auto tick = [&]() {
        const std::size_t d = ++done;
        if (!request.progress)
            return;
        std::lock_guard lock(progressMutex);
        if (!cancelled && !request.progress(d, tensors.size()))
            cancelled = true;
    };
    auto computeOne = [&](std::size_t i, unsigned threads) {
        TensorStatsResult &r = results[i];
        const TensorViewResult view = tensorView(data, tensors[i]);
        if (!view.view && view.pieces.empty()) {
            r.error = view.error;
            return;
        }
        StatsOptions options;
        options.bins = request.bins;
        options.threads = threads;
        options.background = request.background;
        options.releasePages = true; // each tensor is read once here: keeps peak RSS at one tensor per thread
        options.progress = [&](std::uint64_t, std::uint64_t) { return !cancelled.load(); };
        try {
            r.stats = view.pieces.empty() ? computeStats(*view.view, options) : computeStatsOfPieces(view.pieces, options);
        } catch (const FormatError &e) {
            if (e.kind() != FormatError::Kind::Cancelled)
                r.error = e.message();
        }
    };
    // Runs order[from, to) one tensor per thread.
    auto runSideBySide = [&](std::size_t from, std::size_t to) {
        std::atomic<std::size_t> next{from};
        auto work = [&]() {
            for (std::size_t k; !cancelled && (k = next++) < to;) {
                computeOne(order[k], 1);
                tick();
            }
        };
        std::vector<std::thread> pool;
        const auto workers = static_cast<unsigned>(std::min<std::size_t>(cores, to - from));
        for (unsigned w = request.background ? 0 : 1; w < workers; ++w)
            pool.emplace_back([&] {
                if (request.background)
                    format::lowerThreadPriority();
                work();
            });
        if (!request.background)
            work();
        for (auto &t : pool)
            t.join();
    };

    for (std::size_t k = 0; k < order.size() && !cancelled;) {
        if (alone[order[k]]) {
            computeOne(order[k], cores);
            tick();
            ++k;
            continue;
        }
        std::size_t end = k;
        while (end < order.size() && !alone[order[end]])
            ++end;
        runSideBySide(k, end);
        k = end;
    }
    if (cancelled)
        throw FormatError(FormatError::Kind::Cancelled, "cancelled");
    return results;
}

Json statsJson(const std::string &path, const TensorInfo &t, const TensorStatsResult &result)
{
    Json e;
    e["path"] = path;
    e["dtype"] = dtypeName(t.dtype);
    e["numel"] = t.numel();
    if (!result.stats) {
        for (const char *k : {"finite", "nan", "posinf", "neginf", "zeros", "min", "max", "mean", "std", "l2", "hist"})
            e[k] = nullptr;
        e["error"] = result.error;
        return e;
    }
    const TensorStats &s = *result.stats;
    e["numel"] = s.numel;
    e["finite"] = s.finite;
    e["nan"] = s.nan;
    e["posinf"] = s.posinf;
    e["neginf"] = s.neginf;
    e["zeros"] = s.zeros;
    e["min"] = optionalNumber(s.min);
    e["max"] = optionalNumber(s.max);
    e["mean"] = optionalNumber(s.mean);
    e["std"] = optionalNumber(s.std);
    e["l2"] = optionalNumber(s.l2);
    if (s.hist.empty()) {
        e["hist"] = nullptr;
    } else {
        Json h;
        h["lo"] = s.histLo;
        h["hi"] = s.histHi;
        h["counts"] = s.hist;
        e["hist"] = std::move(h);
    }
    return e;
}

Json statsReport(const CheckpointData &data, const StatsSelection &request)
{
    const auto paths = matchingPaths(data, request.patterns);
    std::vector<int> unique;
    std::vector<int> slot(data.tensors.size(), -1);
    for (const TensorPath *p : paths) {
        int &s = slot[static_cast<std::size_t>(p->tensor)];
        if (s < 0) {
            s = static_cast<int>(unique.size());
            unique.push_back(p->tensor);
        }
    }
    const auto results = computeAllStats(data, unique, request);
    Json j;
    j["file"] = data.file;
    j["bins"] = request.bins;
    Json stats = Json::array();
    for (const TensorPath *p : paths) {
        const auto &r = results[static_cast<std::size_t>(slot[static_cast<std::size_t>(p->tensor)])];
        stats.push_back(statsJson(p->path(), data.tensors[static_cast<std::size_t>(p->tensor)], r));
    }
    j["stats"] = std::move(stats);
    if (data.error)
        j["error"] = errorJson(*data.error);
    return j;
}

Json scanReport(const CheckpointData &data)
{
    Json j;
    j["file"] = data.file;
    j["format"] = formatName(data.format);
    const SecurityScan *scan = data.security.get();
    Json globals = Json::array();
    for (const GlobalUse &g : data.globals) {
        Json e;
        e["module"] = g.module;
        e["name"] = g.name;
        e["class"] = globalClassName(g.cls);
        e["role"] = globalRoleName(g.role);
        e["count"] = g.count;
        e["record"] = g.record;
        e["offset"] = g.firstOffset;
        e["torch_reads"] = g.torchReads;
        if (!g.reason.empty())
            e["reason"] = g.reason;
        globals.push_back(std::move(e));
    }
    j["globals"] = std::move(globals);
    const ScanVerdict verdict = data.scanVerdict();
    j["dangerous"] = verdict == ScanVerdict::Dangerous;
    j["verdict"] = scanVerdictName(verdict);
    j["summary"] = scan ? scan->verdictReason : std::string("the file was not scanned");
    j["weights_only"] = scan && scan->weightsOnlyAccepted ? "accepted" : "refused";
    if (scan && !scan->weightsOnlyAccepted) {
        Json stop;
        stop["reason"] = scan->weightsOnlyReason;
        stop["record"] = scan->weightsOnlyRecord;
        stop["offset"] = scan->weightsOnlyOffset;
        j["weights_only_stop"] = std::move(stop);
    }
    Json pickles = Json::array();
    Json warnings = Json::array();
    if (scan) {
        j["container"] = scan->container;
        for (const PickleScan &p : scan->pickles) {
            Json e;
            e["record"] = p.record;
            e["offset"] = p.offset;
            e["end"] = p.end;
            e["protocol"] = p.protocol;
            e["complete"] = p.complete;
            e["torch_reads"] = p.torchReads;
            if (p.error)
                e["error"] = FormatError::describe(p.error->message(), p.error->record(), p.error->offset(),
                                                   p.error->offsetInRecord());
            Json findings = Json::array();
            for (const ScanFinding &f : p.findings)
                findings.push_back(Json{{"offset", f.offset}, {"text", f.text}});
            e["findings"] = std::move(findings);
            if (!p.weightsOnlyRefusal.empty())
                e["weights_only_refusal"] = p.weightsOnlyRefusal;
            pickles.push_back(std::move(e));
        }
        for (const std::string &w : scan->warnings)
            warnings.push_back(w);
    }
    j["pickles"] = std::move(pickles);
    j["warnings"] = std::move(warnings);
    if (data.error)
        j["error"] = errorJson(*data.error);
    return j;
}

std::string lsTable(const CheckpointData &data)
{
    std::string out;
    writeLsTable(data, [&](std::string_view piece) { out += piece; });
    return out;
}

void writeLsTable(const CheckpointData &data, const std::function<void(std::string_view)> &write)
{
    // 100,000-row listings: the cells of all rows go into one buffer (no per-row vectors, no
    // per-cell strings), then the aligned table is written out in pieces, as table() lays it
    // out.
    constexpr std::size_t kColumns = 5;
    constexpr bool kRight[kColumns] = {false, false, false, true, true};
    std::string cells;
    cells.reserve(data.paths.size() * 64 + 64);
    format::adviseHugePagesForSpare(cells);
    std::vector<std::size_t> ends; // end of each cell in `cells`, row after row
    ends.reserve((data.paths.size() + 1) * kColumns);
    format::adviseHugePagesForSpare(ends);
    std::size_t width[kColumns] = {};
    auto endCell = [&](std::size_t column) {
        const std::size_t start = ends.empty() ? 0 : ends.back();
        width[column] = std::max(width[column], cells.size() - start);
        ends.push_back(cells.size());
    };
    char digits[24];
    auto appendNumber = [&](auto n) {
        const auto r = std::to_chars(digits, digits + sizeof digits, n);
        cells.append(digits, r.ptr);
    };
    constexpr const char *kHeaders[kColumns] = {"PATH", "DTYPE", "SHAPE", "NUMEL", "SIZE"};
    for (std::size_t c = 0; c < kColumns; ++c) {
        cells += kHeaders[c];
        endCell(c);
    }
    std::uint64_t bytes = 0;
    std::uint64_t elements = 0;
    std::vector<bool> seen(data.tensors.size(), false);
    for (const TensorPath &p : data.paths) {
        const TensorInfo &t = data.tensors[static_cast<std::size_t>(p.tensor)];
        for (std::size_t i = 0; i < p.keys.size(); ++i) {
            if (i)
                cells += '/';
            cells += p.keys[i];
        }
        endCell(0);
        cells += dtypeName(t.dtype);
        if (t.layout != Layout::Strided) {
            cells += " (";
            cells += layoutName(t.layout);
            cells += ')';
        }
        if (t.device != "cpu" && !t.device.empty()) {
            cells += " @";
            cells += t.device;
        }
        endCell(1);
        cells += '[';
        for (std::size_t i = 0; i < t.shape.size(); ++i) {
            if (i)
                cells += ", ";
            appendNumber(t.shape[i]);
        }
        cells += ']';
        endCell(2);
        const std::uint64_t numel = t.numel();
        const std::uint64_t nbytes = t.nbytes();
        appendNumber(numel);
        endCell(3);
        if (nbytes < 1024) { // humanBytesText()'s text, without its two strings per row
            appendNumber(nbytes);
            cells += " B";
        } else {
            cells += humanBytesText(nbytes);
        }
        endCell(4);
        if (!seen[static_cast<std::size_t>(p.tensor)]) {
            seen[static_cast<std::size_t>(p.tensor)] = true;
            bytes += nbytes;
            elements += numel;
        }
    }
    std::size_t lineMax = 1;
    for (std::size_t w : width)
        lineMax += w + 2;
    // Rows go into a buffer of about 64 KiB (at least one row) that is handed on when full.
    constexpr std::size_t kPiece = 64 << 10;
    std::string out(std::max(kPiece, lineMax), ' ');
    char *const begin = out.data();
    char *at = begin;
    const char *cell = cells.data();
    for (std::size_t row = 0; row < ends.size(); row += kColumns) {
        if (static_cast<std::size_t>(begin + out.size() - at) < lineMax) {
            write(std::string_view(begin, static_cast<std::size_t>(at - begin)));
            at = begin;
        }
        char *const lineStart = at;
        for (std::size_t c = 0; c < kColumns; ++c) {
            const char *const cellEnd = cells.data() + ends[row + c];
            const auto size = static_cast<std::size_t>(cellEnd - cell);
            const std::size_t pad = width[c] - size;
            if (c) {
                std::memset(at, ' ', 2);
                at += 2;
            }
            if (kRight[c]) {
                std::memset(at, ' ', pad);
                at += pad;
                std::memcpy(at, cell, size);
                at += size;
            } else {
                std::memcpy(at, cell, size);
                at += size;
                if (c + 1 != kColumns) {
                    std::memset(at, ' ', pad);
                    at += pad;
                }
            }
            cell = cellEnd;
        }
        while (at > lineStart && at[-1] == ' ')
            --at;
        *at++ = '\n';
    }
    out.resize(static_cast<std::size_t>(at - begin));
    out += totalsText(checkpointTotals(data), formatName(data.format));
    for (const ReadWarning &w : data.warnings)
        out += "warning: " + w.text() + '\n';
    write(out);
}

std::string statsTable(const Json &report)
{
    std::vector<std::vector<std::string>> rows{
        {"PATH", "DTYPE", "MIN", "MAX", "MEAN", "STD", "L2", "NAN", "INF", "ZEROS"}};
    for (const Json &e : report["stats"]) {
        if (e.contains("error") && e["finite"].is_null()) {
            // Built with append: GCC 12 reports a false -Wrestrict on `"(" + std::string&&`.
            std::string error = "(";
            error += e["error"].get<std::string>();
            error += ')';
            rows.push_back({e["path"].get<std::string>(), e["dtype"].get<std::string>(), "-", "-", "-", "-", "-",
                            "-", "-", std::move(error)});
            continue;
        }
        const auto inf = e["posinf"].get<std::uint64_t>() + e["neginf"].get<std::uint64_t>();
        rows.push_back({e["path"].get<std::string>(), e["dtype"].get<std::string>(), numberText(e["min"]),
                        numberText(e["max"]), numberText(e["mean"]), numberText(e["std"]), numberText(e["l2"]),
                        dumpJson(e["nan"], -1), std::to_string(inf), dumpJson(e["zeros"], -1)});
    }
    return table(rows, {false, false, true, true, true, true, true, true, true, true});
}

std::string scanTable(const CheckpointData &data)
{
    std::vector<std::vector<std::string>> rows{{"CLASS", "USE", "COUNT", "GLOBAL"}};
    for (const GlobalUse &g : data.globals)
        rows.push_back({std::string(globalClassName(g.cls)), std::string(globalRoleName(g.role)), std::to_string(g.count),
                        g.module + "." + g.name + (g.reason.empty() ? "" : "  (" + g.reason + ")")});
    std::string out = table(rows, {false, false, true, false});
    const SecurityScan *scan = data.security.get();
    if (scan) {
        for (const PickleScan &p : scan->pickles) {
            out += "pickle " + p.record + (p.torchReads ? " (torch.load reads it)" : " (torch.load does not read it)");
            if (p.error)
                out += ": stops early: " + p.error->message();
            out += '\n';
            for (const ScanFinding &f : p.findings)
                out += "  at byte " + std::to_string(f.offset) + ": " + f.text + '\n';
        }
        for (const std::string &w : scan->warnings)
            out += "warning: " + w + '\n';
    }
    if (scan && scan->deferredRecords > 0)
        out += std::to_string(scan->deferredRecords) + " tensor records not read yet (dcp.load reads them with "
               "torch.load(weights_only=True)); `ckpt-inspect scan` reads them all\n";
    out += "verdict: " + std::string(scanVerdictName(data.scanVerdict())) + " - "
           + (scan ? scan->verdictReason : std::string("the file was not scanned")) + '\n';
    if (scan && scan->container == "dcp")
        // A DCP directory is loaded by dcp.load, which has no weights-only mode.
        out += "dcp.load (no weights_only mode): " + scan->weightsOnlyReason + '\n';
    else
        out += "torch.load default (weights_only=True): "
               + (scan && scan->weightsOnlyAccepted ? std::string("accepts it")
                                                    : "refuses it: " + (scan ? scan->weightsOnlyReason : std::string()))
               + '\n';
    return out;
}

} // namespace ckpt

// SPDX-License-Identifier: MIT
#include "series.h"

#include "trainingstate.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iterator>
#include <utility>

namespace ckpt {

namespace fs = std::filesystem;
using format::Value;
using format::ValueKind;

namespace {

std::vector<std::int64_t> numbersIn(const std::string &name)
{
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < name.size();) {
        if (!std::isdigit(static_cast<unsigned char>(name[i]))) {
            ++i;
            continue;
        }
        std::int64_t n = 0;
        for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
            n = n < (INT64_MAX - 9) / 10 ? n * 10 + (name[i] - '0') : n;
        out.push_back(n);
    }
    return out;
}

/// A counter's number: an int, a float, or a 0-d tensor's one element.
std::optional<double> numberOf(const format::CheckpointData &data, const Value *v)
{
    if (!v)
        return std::nullopt;
    if (v->kind == ValueKind::Int)
        return static_cast<double>(v->integer);
    if (v->kind == ValueKind::Float)
        return v->real;
    if (v->kind == ValueKind::Tensor) {
        const format::TensorViewResult t = format::tensorView(data, static_cast<int>(v->integer));
        if (t.view && t.view->numel() == 1 && format::isDecodable(t.view->dtype))
            return format::elementAt(*t.view, std::vector<std::int64_t>(t.view->shape.size(), 0)).re;
    }
    return std::nullopt;
}

bool isCheckpointFile(const fs::path &p)
{
    static const char *const kExtensions[] = {".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".pkl", ".tar"};
    const std::string ext = p.extension().string();
    return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char *e) { return ext == e; });
}

bool isCheckpointFolder(const fs::path &p)
{
    std::error_code ec;
    return fs::is_regular_file(p / ".metadata", ec) || fs::is_regular_file(p / "trainer_state.json", ec)
           || !format::weightsInFolder(p.string()).empty();
}

} // namespace

bool naturalLess(const std::string &a, const std::string &b)
{
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
        if (da && db) {
            std::size_t ei = i, ej = j;
            while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei])))
                ++ei;
            while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej])))
                ++ej;
            // Compare the runs as numbers of any length: without leading zeros, longer is larger.
            std::string_view x(a.data() + i, ei - i), y(b.data() + j, ej - j);
            x.remove_prefix(std::min(x.find_first_not_of('0'), x.size()));
            y.remove_prefix(std::min(y.find_first_not_of('0'), y.size()));
            if (x.size() != y.size())
                return x.size() < y.size();
            if (x != y)
                return x < y;
            i = ei;
            j = ej;
        } else {
            if (a[i] != b[j])
                return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

std::vector<std::string> seriesCandidates(const std::string &dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path p = it->path();
        if (p.filename().string().starts_with("."))
            continue;
        std::error_code e2;
        if ((it->is_regular_file(e2) && isCheckpointFile(p)) || (it->is_directory(e2) && isCheckpointFolder(p)))
            out.push_back(p.string());
    }
    std::sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
        return naturalLess(fs::path(a).filename().string(), fs::path(b).filename().string());
    });
    return out;
}

void seriesCounters(const format::CheckpointData &data, std::optional<std::int64_t> &step,
                    std::optional<double> &epoch)
{
    step.reset();
    epoch.reset();
    std::size_t stepDepth = SIZE_MAX, stepRank = SIZE_MAX, epochDepth = SIZE_MAX;
    for (const TrainingItem &item : findTrainingState(data)) {
        if (item.kind != TrainingKind::Counter || item.keys.empty())
            continue;
        const std::string &key = item.keys.back();
        const std::optional<double> n = numberOf(data, item.value);
        if (!n)
            continue;
        static const char *const kStepKeys[] = {"global_step", "step", "iteration", "iter"};
        const auto rank = static_cast<std::size_t>(
            std::find_if(std::begin(kStepKeys), std::end(kStepKeys), [&](const char *k) { return key == k; })
            - std::begin(kStepKeys));
        if (rank < std::size(kStepKeys)
            && std::make_pair(item.keys.size(), rank) < std::make_pair(stepDepth, stepRank)) {
            step = static_cast<std::int64_t>(*n);
            stepDepth = item.keys.size();
            stepRank = rank;
        } else if (key == "epoch" && item.keys.size() < epochDepth) {
            epoch = *n;
            epochDepth = item.keys.size();
        }
    }
}

Series openSeries(const std::vector<std::string> &inputs, const format::ReadLimits &limits)
{
    std::vector<std::string> files;
    for (const std::string &in : inputs) {
        std::error_code ec;
        if (fs::is_directory(in, ec) && !isCheckpointFolder(in)) {
            const std::vector<std::string> found = seriesCandidates(in);
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(in);
        }
    }
    Series series;
    for (const std::string &f : files) {
        SeriesMember m;
        m.file = f;
        m.nameNumbers = numbersIn(fs::path(f).filename().string());
        std::error_code ec;
        if (fs::is_regular_file(f, ec))
            m.size = fs::file_size(f, ec);
        const auto t = fs::last_write_time(f, ec);
        if (!ec)
            m.mtimeNs = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
        m.data = format::readCheckpoint(f, limits);
        if (m.data)
            seriesCounters(*m.data, m.step, m.epoch);
        series.members.push_back(std::move(m));
    }
    auto all = [&](auto has) { return std::all_of(series.members.begin(), series.members.end(), has); };
    const bool bySteps = all([](const SeriesMember &m) { return m.step.has_value(); });
    const bool byEpochs = all([](const SeriesMember &m) { return m.epoch.has_value(); });
    const bool byNames = all([](const SeriesMember &m) { return !m.nameNumbers.empty(); });
    series.orderedBy = bySteps ? "step" : byEpochs ? "epoch" : byNames ? "name" : "mtime";
    std::stable_sort(series.members.begin(), series.members.end(), [&](const SeriesMember &a, const SeriesMember &b) {
        if (bySteps && *a.step != *b.step)
            return *a.step < *b.step;
        if (byEpochs && *a.epoch != *b.epoch)
            return *a.epoch < *b.epoch;
        if (byNames && a.nameNumbers != b.nameNumbers)
            return a.nameNumbers < b.nameNumbers;
        if (!bySteps && !byEpochs && !byNames && a.mtimeNs != b.mtimeNs)
            return a.mtimeNs < b.mtimeNs;
        return naturalLess(fs::path(a.file).filename().string(), fs::path(b.file).filename().string());
    });
    return series;
}

} // namespace ckpt

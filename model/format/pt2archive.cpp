// SPDX-License-Identifier: MIT
#include "pt2archive.h"

#include "formaterror.h"

#include <nlohmann/json.hpp>

namespace ckpt::format {

namespace {

using Json = nlohmann::ordered_json; // the config's order is the tree's

/// A SymInt of the schema: {"as_int": n}; symbolic ones ({"as_expr": ...}) give false.
bool symInt(const Json &j, std::int64_t &out)
{
    if (!j.is_object() || !j.contains("as_int") || !j["as_int"].is_number_integer())
        return false;
    out = j["as_int"].get<std::int64_t>();
    return true;
}

bool symInts(const Json &j, std::vector<std::int64_t> &out)
{
    if (!j.is_array())
        return false;
    for (const Json &e : j) {
        std::int64_t v = 0;
        if (!symInt(e, v))
            return false;
        out.push_back(v);
    }
    return true;
}

} // namespace

DType pt2ScalarType(std::int64_t code) noexcept
{
    // torch/_export/serde/schema.py, class ScalarType.
    switch (code) {
    case 1: return DType::UInt8;
    case 2: return DType::Int8;
    case 3: return DType::Int16;
    case 4: return DType::Int32;
    case 5: return DType::Int64;
    case 6: return DType::Float16;
    case 7: return DType::Float32;
    case 8: return DType::Float64;
    case 9: return DType::Complex32;
    case 10: return DType::Complex64;
    case 11: return DType::Complex128;
    case 12: return DType::Bool;
    case 13: return DType::BFloat16;
    case 28: return DType::UInt16;
    case 29: return DType::Float8_e4m3fn;
    case 30: return DType::Float8_e5m2;
    case 31: return DType::Float8_e4m3fnuz;
    case 32: return DType::Float8_e5m2fnuz;
    case 33: return DType::Float8_e8m0fnu;
    case 34: return DType::UInt32;
    case 35: return DType::UInt64;
    default: return DType::Unknown;
    }
}

std::vector<Pt2Tensor> parsePt2Config(std::string_view json, const std::string &record)
{
    const Json doc = Json::parse(json.begin(), json.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("config") || !doc["config"].is_object())
        throw FormatError(FormatError::Kind::Corrupt, "not a PT2 weights/constants config (no \"config\" object)",
                          record);
    std::vector<Pt2Tensor> out;
    for (const auto &[name, entry] : doc["config"].items()) {
        Pt2Tensor t;
        t.name = name;
        if (!entry.is_object()) {
            t.problem = "the entry is not an object";
            out.push_back(std::move(t));
            continue;
        }
        t.record = entry.value("path_name", std::string());
        t.isParameter = entry.value("is_param", false);
        const Json meta = entry.value("tensor_meta", Json::object());
        t.pickled = entry.value("use_pickle", false);
        if (t.record.starts_with("custom_obj_") || t.record.starts_with("opaque_obj_")) {
            t.problem = "a pickled object (torch.export.load unpickles it): not read";
        } else if (t.pickled) {
            t.problem = "a pickled tensor (a tensor subclass): not read";
        } else if (t.record.empty() || !meta.is_object()) {
            t.problem = "no record or no tensor_meta";
        } else {
            t.dtype = pt2ScalarType(meta.value("dtype", std::int64_t{0}));
            t.requiresGrad = meta.value("requires_grad", false);
            if (meta.contains("device") && meta["device"].is_object() && meta["device"].value("type", std::string()) != "")
                t.device = meta["device"]["type"].get<std::string>();
            std::int64_t offset = 0;
            if (t.dtype == DType::Unknown)
                t.problem = "dtype " + std::to_string(meta.value("dtype", std::int64_t{0})) + " of the export schema is not known";
            else if (meta.value("layout", std::int64_t{7}) != 7)
                t.problem = "layout " + std::to_string(meta.value("layout", std::int64_t{0})) + " (only strided tensors are read)";
            else if (!symInts(meta.value("sizes", Json()), t.shape) || !symInts(meta.value("strides", Json()), t.stride)
                     || !symInt(meta.value("storage_offset", Json::object({{"as_int", 0}})), offset))
                t.problem = "symbolic sizes, strides or offset";
            else if (t.shape.size() != t.stride.size())
                t.problem = "sizes and strides differ in length";
            t.storageOffset = offset;
        }
        out.push_back(std::move(t));
    }
    return out;
}

} // namespace ckpt::format

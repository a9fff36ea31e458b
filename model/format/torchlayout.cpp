// SPDX-License-Identifier: MIT
#include "torchlayout.h"

#include <algorithm>
#include <unordered_set>

namespace ckpt::format {

namespace {

bool isStr(const Value *v) noexcept
{
    return v && v->kind == ValueKind::Str;
}

bool isSeq(const Value *v) noexcept
{
    return v && (v->kind == ValueKind::Tuple || v->kind == ValueKind::List);
}

/// Argument `i` of an Object's argument tuple, or nullptr.
Value *arg(const Value *obj, std::size_t i) noexcept
{
    if (!obj->args || !isSeq(obj->args) || i >= obj->args->items.size())
        return nullptr;
    return obj->args->items[i];
}

std::size_t argCount(const Value *obj) noexcept
{
    return obj->args && isSeq(obj->args) ? obj->args->items.size() : 0;
}

/// Reads a tuple/list (or torch.Size already turned into a Tuple) of ints.
bool intList(const Value *v, std::vector<std::int64_t> &out)
{
    if (!isSeq(v))
        return false;
    out.clear();
    out.reserve(v->items.size());
    for (const Value *item : v->items) {
        std::int64_t i = 0;
        if (!item || !item->toInt(i))
            return false;
        out.push_back(i);
    }
    return true;
}

bool truthy(const Value *v) noexcept
{
    if (!v)
        return false;
    switch (v->kind) {
    case ValueKind::Bool: return v->boolean;
    case ValueKind::Int: return v->integer != 0;
    default: return false;
    }
}

/// Decodes the UTF-8 text of a Str into code points <= 255 (`_codecs.encode(s, 'latin1')`).
bool latin1Bytes(std::string_view utf8, std::string &out)
{
    out.clear();
    out.reserve(utf8.size());
    for (std::size_t i = 0; i < utf8.size();) {
        const auto c = static_cast<unsigned char>(utf8[i]);
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
            const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
            if (cp > 0xFF)
                return false;
            out.push_back(static_cast<char>(cp));
            i += 2;
        } else {
            return false;
        }
    }
    return true;
}

/// Turns `v` into a copy of `target` (keeps v's offset). Used where a call's result is one of
/// its arguments (TorchScript type tags, list builders, 'module' persistent ids).
void becomeCopyOf(Value *v, const Value *target)
{
    if (v == target)
        return;
    const std::uint64_t offset = v->offset;
    *v = *target;
    v->setOffset(offset);
}

class Interpreter
{
public:
    Interpreter(CheckpointData &data, const StorageResolver &resolve, const std::string &pickleName,
                const PlainIdResolver &plainId)
        : m_data(data), m_resolve(resolve), m_plainId(plainId), m_pickle(pickleName)
    {
    }

    void run(std::size_t firstNode)
    {
        // Nodes are created in pickle order, so arguments are interpreted before the calls
        // that use them; convert() still handles the odd forward reference itself.
        const std::size_t end = m_data.graph.size();
        // Each torch._utils call makes (at most) one tensor: reserving for them spares the
        // moves of a growing tensor table (100,000s of TensorInfo).
        std::size_t rebuildCalls = 0;
        for (std::size_t i = firstNode; i < end; ++i) {
            const Value *v = nodeAt(i);
            if (v->kind == ValueKind::Object && v->cls && v->cls->kind == ValueKind::Global
                && v->cls->text.starts_with("torch._utils\n"))
                ++rebuildCalls;
        }
        m_data.tensors.reserve(m_data.tensors.size() + rebuildCalls);
        adviseHugePagesForSpare(m_data.tensors);
        for (std::size_t i = firstNode; i < end; ++i) // nodes made here (convertNested) come after `end`
            convert(nodeAt(i));
    }

private:
    Value *nodeAt(std::size_t i) { return m_data.graph.at(i); }

    void warn(const std::string &message, std::uint64_t offset)
    {
        if (m_data.warnings.size() < 1000)
            m_data.warnings.push_back({message, m_pickle, offset});
    }

    void convert(Value *v)
    {
        if (!v)
            return;
        if (v->kind == ValueKind::PersistentId) {
            convertPersistentId(v);
            return;
        }
        if (v->kind != ValueKind::Object || !v->cls || v->cls->kind != ValueKind::Global)
            return;
        if (std::find(m_converting.begin(), m_converting.end(), v) != m_converting.end())
            return; // already in progress (cycle through arguments)
        m_converting.push_back(v);
        convertCall(v);
        m_converting.pop_back();
    }

    void convertPersistentId(Value *v)
    {
        Value *pid = v->args;
        if (isStr(pid) && pid->text.starts_with("('storage',")) {
            convertTextStorageId(v, pid->text);
            return;
        }
        if (isStr(pid) && m_plainId) {
            convertTarId(v, pid->text);
            return;
        }
        if (!isSeq(pid) || pid->items.empty() || !pid->items[0]) {
            warn("persistent id of an unknown form is shown as an opaque value", v->offset);
            return;
        }
        std::string_view tag;
        if (pid->items[0]->kind == ValueKind::Str || pid->items[0]->kind == ValueKind::Bytes)
            tag = pid->items[0]->text;
        if (tag == "module" && pid->items.size() >= 2 && pid->items[1]) {
            // ('module', cls, source_file, source): the class itself; never look at the source.
            becomeCopyOf(v, pid->items[1]);
            return;
        }
        if (tag != "storage" || pid->items.size() < 5) {
            warn("persistent id '" + std::string(tag) + "' is not a storage; shown as an opaque value", v->offset);
            return;
        }
        const Value *type = pid->items[1];
        const Value *key = pid->items[2];
        const Value *location = pid->items[3];
        std::int64_t numel = 0;
        std::optional<DType> dtype;
        const bool global = type && type->kind == ValueKind::Global; // (immutable once made)
        if (global && type == m_lastStorageType) { // one memoized global for all storages of a type
            dtype = m_lastStorageDType;
        } else {
            dtype = storageTypeDType(type);
            if (!dtype) {
                // v3 files may name a dtype global instead of a storage class.
                if (global && type->module() == "torch")
                    dtype = dtypeFromName(type->name());
            }
            if (global) {
                m_lastStorageType = type;
                m_lastStorageDType = dtype;
            }
        }
        if (!dtype || !key || !pid->items[4] || !pid->items[4]->toInt(numel) || numel < 0) {
            warn("storage persistent id with an unknown type or size", v->offset);
            return;
        }
        // The node texts are passed as they are (no copies: this runs once per tensor).
        std::string keyNumber;
        if (key->kind == ValueKind::Int)
            keyNumber = std::to_string(key->integer);
        const std::string_view keyText = key->kind == ValueKind::Int ? std::string_view(keyNumber) : key->text;
        const std::string_view loc = isStr(location) ? location->text : std::string_view("cpu");
        const int index = m_resolve(keyText, *dtype, static_cast<std::uint64_t>(numel), loc, v->offset);
        if (index < 0)
            return;
        v->kind = ValueKind::Storage;
        v->integer = index;
        // Very old legacy files: (view_key, offset, size) sub-range of the root storage.
        if (pid->items.size() >= 6 && isSeq(pid->items[5]) && pid->items[5]->items.size() >= 3)
            warn("storage view metadata is ignored (pre-1.0 file)", v->offset);
    }

    /// Protocol 0 writes persistent ids with PERSID as the repr of the tuple:
    /// "('storage', <class 'torch.FloatStorage'>, '0', 'cpu', 2)".
    void convertTextStorageId(Value *v, std::string_view textView)
    {
        const std::string text(textView);
        auto quoted = [&](std::size_t &pos, std::string &out) {
            const std::size_t a = text.find('\'', pos);
            if (a == std::string::npos)
                return false;
            const std::size_t b = text.find('\'', a + 1);
            if (b == std::string::npos)
                return false;
            out = text.substr(a + 1, b - a - 1);
            pos = b + 1;
            return true;
        };
        std::size_t pos = std::string("('storage',").size();
        std::string cls;
        std::string key;
        std::string location;
        const bool ok = quoted(pos, cls) && quoted(pos, key) && quoted(pos, location);
        const std::size_t comma = ok ? text.find(',', pos) : std::string::npos;
        std::int64_t numel = -1;
        if (comma != std::string::npos) {
            try {
                numel = std::stoll(text.substr(comma + 1));
            } catch (const std::exception &) {
                numel = -1;
            }
        }
        const std::size_t dot = cls.rfind('.');
        std::optional<DType> dtype;
        if (dot != std::string::npos) {
            const std::string name = cls.substr(dot + 1);
            dtype = name == "UntypedStorage" ? std::optional<DType>(DType::UInt8) : dtypeFromStorageClass(name);
        }
        if (!ok || numel < 0 || !dtype) {
            warn("text persistent id of an unknown form: " + text.substr(0, 80), v->offset);
            return;
        }
        const int index = m_resolve(key, *dtype, static_cast<std::uint64_t>(numel),
                                    m_data.graph.copyText(location), v->offset);
        if (index < 0)
            return;
        v->kind = ValueKind::Storage;
        v->integer = index;
    }

    void convertTarId(Value *v, std::string_view id)
    {
        if (!m_plainId || !m_plainId(id, v))
            warn("persistent id '" + std::string(id) + "' names no tensor or storage in the archive", v->offset);
    }

    int storageOf(Value *v)
    {
        if (v && v->kind == ValueKind::PersistentId)
            convertPersistentId(v);
        if (v && v->kind == ValueKind::Storage)
            return static_cast<int>(v->integer);
        return -1;
    }

    Value *tensorOf(Value *v)
    {
        convert(v);
        return v && v->kind == ValueKind::Tensor ? v : nullptr;
    }

    int addTensor(Value *v, TensorInfo &&t)
    {
        t.pickleOffset = v->offset;
        m_data.tensors.push_back(std::move(t));
        const int index = static_cast<int>(m_data.tensors.size() - 1);
        v->kind = ValueKind::Tensor;
        v->integer = index;
        return index;
    }

    /// storage, offset, size, stride: the common head of the strided builders.
    bool stridedHead(Value *obj, std::size_t first, TensorInfo &t, const char *builder)
    {
        const int storage = storageOf(arg(obj, first));
        std::int64_t offset = 0;
        if (storage < 0 || !arg(obj, first + 1) || !arg(obj, first + 1)->toInt(offset)
            || !intList(sizeArg(arg(obj, first + 2)), t.shape)
            || !intList(sizeArg(arg(obj, first + 3)), t.stride)) {
            warn(std::string(builder) + " with arguments of an unexpected form; shown as an opaque object",
                 obj->offset);
            return false;
        }
        t.storage = storage;
        t.storageOffset = offset;
        const StorageInfo &s = m_data.storages[static_cast<std::size_t>(storage)];
        t.dtype = s.dtype;
        t.device = s.location;
        t.builder = builder;
        return true;
    }

    /// torch.Size(...) objects not yet converted are accepted as size arguments.
    Value *sizeArg(Value *v)
    {
        convert(v);
        return v;
    }

    void applyMetadata(TensorInfo &t, const Value *metadata)
    {
        if (!metadata || metadata->kind != ValueKind::Dict)
            return;
        if (const Value *c = metadata->get("conj"))
            t.conj = truthy(c);
        if (const Value *n = metadata->get("neg"))
            t.neg = truthy(n);
    }

    void convertCall(Value *v)
    {
        // The calls of a checkpoint name a handful of Global nodes (memoized by the pickler):
        // the split of the last one is kept (its text never changes).
        const Value *g = v->cls;
        if (g != m_lastGlobal) {
            m_lastGlobal = g;
            m_lastModule = g->module();
            m_lastName = g->name();
        }
        const std::string_view mod = m_lastModule;
        const std::string_view name = m_lastName;
        if (mod == "torch._utils")
            convertTorchUtils(v, name);
        else if (mod == "torch._tensor" && (name == "_rebuild_from_type_v2" || name == "_rebuild_from_type"))
            convertFromType(v);
        else if (mod == "collections" && (name == "OrderedDict" || name == "Counter" || name == "defaultdict"))
            convertDictClass(v, name == "OrderedDict");
        else if (mod == "torch" && name == "Size")
            convertSize(v);
        else if (mod == "builtins")
            convertBuiltin(v, name);
        else if (mod == "_codecs" && name == "encode")
            convertCodecsEncode(v);
        else if (mod == "torch.jit._pickle")
            convertJitPickle(v, name);
        else if (mod == "copyreg" && name == "_reconstructor" && arg(v, 0)) {
            // copyreg._reconstructor(cls, base, state): an instance of cls.
            Value *cls = arg(v, 0);
            v->cls = cls;
            v->origin = ObjectOrigin::NewObj;
        } else if (mod == "torch.nn.parameter" && name == "Parameter") {
            // Parameter(data, requires_grad) called directly (NEWOBJ/REDUCE).
            convertParameter(v, arg(v, 0), argCount(v) > 1 ? arg(v, 1) : nullptr);
        }
    }

    void convertTorchUtils(Value *v, std::string_view name)
    {
        TensorInfo t;
        if (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor") {
            if (!stridedHead(v, 0, t, name == "_rebuild_tensor" ? "_rebuild_tensor" : "_rebuild_tensor_v2"))
                return;
            if (name == "_rebuild_tensor_v2") {
                t.requiresGrad = truthy(arg(v, 4));
                applyMetadata(t, arg(v, 6));
            }
            addTensor(v, std::move(t));
        } else if (name == "_rebuild_tensor_v3") {
            if (!stridedHead(v, 0, t, "_rebuild_tensor_v3"))
                return;
            t.requiresGrad = truthy(arg(v, 4));
            const Value *dt = arg(v, 6);
            if (dt && dt->kind == ValueKind::Global) {
                if (auto d = dtypeFromName(dt->name()))
                    t.dtype = *d;
            }
            applyMetadata(t, arg(v, 7));
            addTensor(v, std::move(t));
        } else if (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state") {
            convertParameter(v, arg(v, 0), arg(v, 1));
            if (name == "_rebuild_parameter_with_state" && arg(v, 3))
                v->state = arg(v, 3);
        } else if (name == "_rebuild_qtensor") {
            convertQTensor(v);
        } else if (name == "_rebuild_sparse_tensor" || name == "_rebuild_sparse_csr_tensor") {
            convertSparse(v);
        } else if (name == "_rebuild_meta_tensor_no_storage") {
            const Value *dt = arg(v, 0);
            if (!dt || dt->kind != ValueKind::Global || !intList(sizeArg(arg(v, 1)), t.shape)
                || !intList(sizeArg(arg(v, 2)), t.stride)) {
                warn("meta tensor with arguments of an unexpected form", v->offset);
                return;
            }
            t.dtype = dtypeFromName(dt->name()).value_or(DType::Unknown);
            t.requiresGrad = truthy(arg(v, 3));
            t.device = "meta";
            t.builder = "_rebuild_meta_tensor_no_storage";
            addTensor(v, std::move(t));
        } else if (name == "_rebuild_wrapper_subclass") {
            const Value *dt = arg(v, 1);
            if (!dt || dt->kind != ValueKind::Global || !intList(sizeArg(arg(v, 2)), t.shape)
                || !intList(sizeArg(arg(v, 3)), t.stride)) {
                warn("wrapper subclass tensor with arguments of an unexpected form", v->offset);
                return;
            }
            t.dtype = dtypeFromName(dt->name()).value_or(DType::Unknown);
            if (arg(v, 0) && arg(v, 0)->kind == ValueKind::Global)
                t.subclass = std::string(arg(v, 0)->module()) + "." + std::string(arg(v, 0)->name());
            t.requiresGrad = truthy(arg(v, 7));
            t.builder = "_rebuild_wrapper_subclass";
            t.device = "meta";
            addTensor(v, std::move(t));
        } else if (name == "_rebuild_nested_tensor") {
            convertNested(v);
        } else if (name == "_rebuild_device_tensor_from_cpu_tensor") {
            Value *inner = tensorOf(arg(v, 0));
            if (!inner)
                return;
            TensorInfo copy = m_data.tensors[static_cast<std::size_t>(inner->integer)];
            if (isStr(arg(v, 2)))
                copy.device = arg(v, 2)->text;
            copy.requiresGrad = truthy(arg(v, 3));
            addTensor(v, std::move(copy));
        }
    }

    void convertParameter(Value *v, Value *data, const Value *requiresGrad)
    {
        Value *inner = tensorOf(data);
        if (!inner) {
            warn("Parameter whose data is not a tensor; shown as an opaque object", v->offset);
            return;
        }
        TensorInfo t = m_data.tensors[static_cast<std::size_t>(inner->integer)];
        t.isParameter = true;
        t.requiresGrad = requiresGrad ? truthy(requiresGrad) : true;
        addTensor(v, std::move(t));
    }

    void convertQTensor(Value *v)
    {
        TensorInfo t;
        if (!stridedHead(v, 0, t, "_rebuild_qtensor"))
            return;
        const Value *q = arg(v, 4);
        if (!isSeq(q) || q->items.empty() || !q->items[0]) {
            warn("quantized tensor without quantizer parameters", v->offset);
            return;
        }
        QuantParams p;
        const Value *scheme = q->items[0];
        p.scheme = scheme->kind == ValueKind::Global ? std::string(scheme->name()) : pyRepr(scheme);
        if (p.scheme == "per_tensor_affine" && q->items.size() >= 3) {
            q->items[1]->toDouble(p.scale);
            q->items[2]->toInt(p.zeroPoint);
        } else if ((p.scheme == "per_channel_affine" || p.scheme == "per_channel_affine_float_qparams")
                   && q->items.size() >= 4) {
            Value *scales = tensorOf(q->items[1]);
            Value *zps = tensorOf(q->items[2]);
            if (!scales || !zps || !q->items[3]->toInt(p.axis)) {
                warn("per-channel quantized tensor with unexpected parameters", v->offset);
                return;
            }
            p.scalesTensor = static_cast<int>(scales->integer);
            p.zeroPointsTensor = static_cast<int>(zps->integer);
        } else {
            warn("quantization scheme '" + p.scheme + "' is not decoded", v->offset);
        }
        t.quant = std::make_shared<const QuantParams>(std::move(p));
        t.requiresGrad = truthy(arg(v, 5));
        addTensor(v, std::move(t));
    }

    void convertSparse(Value *v)
    {
        // (layout, data); layout = torch.serialization._get_layout('torch.sparse_coo') call.
        Value *layoutCall = arg(v, 0);
        Value *data = arg(v, 1);
        std::string layoutName;
        if (layoutCall && layoutCall->kind == ValueKind::Object && isStr(arg(layoutCall, 0)))
            layoutName = arg(layoutCall, 0)->text;
        else if (layoutCall && layoutCall->kind == ValueKind::Global)
            layoutName = std::string(layoutCall->name());
        if (layoutName.starts_with("torch."))
            layoutName.erase(0, 6);
        if (!isSeq(data)) {
            warn("sparse tensor with data of an unexpected form", v->offset);
            return;
        }
        TensorInfo t;
        t.builder = "_rebuild_sparse_tensor";
        std::size_t valuesAt = 1;
        std::size_t sizeAt = 2;
        std::size_t parts = 2;
        if (layoutName == "sparse_coo") {
            t.layout = Layout::SparseCoo;
        } else {
            if (layoutName == "sparse_csr")
                t.layout = Layout::SparseCsr;
            else if (layoutName == "sparse_csc")
                t.layout = Layout::SparseCsc;
            else if (layoutName == "sparse_bsr")
                t.layout = Layout::SparseBsr;
            else if (layoutName == "sparse_bsc")
                t.layout = Layout::SparseBsc;
            else {
                warn("sparse layout '" + layoutName + "' is not known", v->offset);
                return;
            }
            valuesAt = 2;
            sizeAt = 3;
            parts = 3;
        }
        if (data->items.size() <= sizeAt) {
            warn("sparse tensor with too few components", v->offset);
            return;
        }
        for (std::size_t i = 0; i < parts; ++i) {
            Value *c = tensorOf(data->items[i]);
            if (!c) {
                warn("sparse tensor component is not a tensor", v->offset);
                return;
            }
            t.components.push_back(static_cast<int>(c->integer));
        }
        if (!intList(sizeArg(data->items[sizeAt]), t.shape)) {
            warn("sparse tensor without a size", v->offset);
            return;
        }
        const TensorInfo &values = m_data.tensors[static_cast<std::size_t>(t.components[valuesAt])];
        t.dtype = values.dtype;
        t.device = values.device;
        t.quant = values.quant;
        addTensor(v, std::move(t));
    }

    /// torch.nested's strided nested tensors: _rebuild_nested_tensor(buffer, sizes, strides,
    /// offsets), the values of every component one after the other in `buffer` and row i of
    /// the three int64 tables describing component i. A nested tensor has no single shape, so
    /// it is listed as what it is made of: the call's node gets the four as named attributes
    /// (`values`, `sizes`, `strides`, `offsets`: torch's values() and _nested_tensor_size(),
    /// _nested_tensor_strides(), _nested_tensor_storage_offsets()), which the tree shows as its
    /// children. The four Str keys are the only nodes made after the pickle is read: they are
    /// appended past the nodes run() visits.
    void convertNested(Value *v)
    {
        static constexpr std::string_view kNames[] = {"values", "sizes", "strides", "offsets"};
        Value *parts[4];
        for (std::size_t i = 0; i < 4; ++i) {
            parts[i] = tensorOf(arg(v, i));
            if (!parts[i]) {
                warn("a nested tensor (torch._utils._rebuild_nested_tensor) whose " + std::string(kNames[i])
                         + " is not a tensor is not read",
                     v->offset);
                return;
            }
        }
        Value *named = m_data.graph.make(ValueKind::Dict);
        named->offset = v->offset;
        for (std::size_t i = 0; i < 4; ++i) {
            Value *key = m_data.graph.make(ValueKind::Str);
            key->offset = v->offset;
            key->text = kNames[i];
            named->items.push_back(key);
            named->items.push_back(parts[i]);
        }
        v->state = named;
    }

    void convertFromType(Value *v)
    {
        // (func, new_type, args, state): func(*args), then tagged with new_type and state.
        Value *func = arg(v, 0);
        Value *type = arg(v, 1);
        Value *args = arg(v, 2);
        if (!func || func->kind != ValueKind::Global || !isSeq(args))
            return;
        Value *state = arg(v, 3);
        v->cls = func;
        v->args = args;
        convertCall(v);
        if (v->kind != ValueKind::Tensor && func->name() == "_rebuild_njt"
            && func->module() == "torch.nested._internal.nested_tensor" && args->items.size() == 1
            && args->items[0] && args->items[0]->kind == ValueKind::Dict) {
            // torch 2.x's jagged nested tensor (NestedTensor): _rebuild_njt's one argument is
            // the dict of what it is made of (values, offsets, lengths, _ragged_idx,
            // _metadata_cache with min/max_seqlen, requires_grad), shown as its attributes.
            v->state = args->items[0];
            return;
        }
        if (v->kind != ValueKind::Tensor) {
            // A tensor subclass rebuilt by a function this reader does not know (a library's
            // own rebuild function, such as _rebuild_njt was before it was read above): said,
            // never dropped in silence.
            if (type && type->kind == ValueKind::Global)
                warn("a tensor of class " + std::string(type->module()) + "." + std::string(type->name())
                         + " rebuilt by " + std::string(func->module()) + "." + std::string(func->name())
                         + " is not read (its component tensors are not listed)",
                     v->offset);
            return;
        }
        TensorInfo &t = m_data.tensors[static_cast<std::size_t>(v->integer)];
        if (type && type->kind == ValueKind::Global) {
            const std::string cls = std::string(type->module()) + "." + std::string(type->name());
            if (cls != "torch.Tensor" && cls != "torch.nn.parameter.Parameter")
                t.subclass = cls;
            if (cls == "torch.nn.parameter.Parameter")
                t.isParameter = true;
        }
        if (state && state->kind == ValueKind::Dict && state->dictSize() > 0)
            v->state = state;
    }

    void convertDictClass(Value *v, bool ordered)
    {
        Value *items = v->dictItems();
        Value *state = v->state;
        Value *cls = v->cls;
        Value *first = arg(v, 0);
        v->kind = ValueKind::Dict;
        v->items.clear();
        // OrderedDict([(k, v), ...]) / Counter({...}) forms.
        if (ordered && first && isSeq(first)) {
            for (Value *pair : first->items)
                if (pair && isSeq(pair) && pair->items.size() == 2) {
                    v->items.push_back(pair->items[0]);
                    v->items.push_back(pair->items[1]);
                }
        } else if (!ordered && first && first->kind == ValueKind::Dict && cls->name() == "Counter") {
            v->items = first->items;
        }
        if (items && items->kind == ValueKind::Dict)
            v->items.insert(v->items.end(), items->items.begin(), items->items.end());
        v->cls = cls;
        v->state = state;
        v->args = nullptr;
        if (v->extra) { // the items are in v->items now; kwargs stay as they were
            Value *kwargs = v->kwargs();
            v->extra = nullptr; // (not cleared in place: becomeCopyOf() copies may share it)
            if (kwargs)
                m_data.graph.extra(v)[0] = kwargs;
        }
    }

    void convertSize(Value *v)
    {
        Value *first = arg(v, 0);
        if (!isSeq(first))
            return;
        ValueList items = first->items;
        Value *cls = v->cls;
        v->kind = ValueKind::Tuple;
        v->items = std::move(items);
        v->cls = cls; // remembered for display: torch.Size
        v->args = nullptr;
    }

    void convertBuiltin(Value *v, std::string_view name)
    {
        Value *first = arg(v, 0);
        if (name == "set" || name == "frozenset") {
            ValueList items;
            if (first && (isSeq(first) || first->kind == ValueKind::Set || first->kind == ValueKind::FrozenSet))
                items = first->items;
            v->kind = name == "set" ? ValueKind::Set : ValueKind::FrozenSet;
            v->items = std::move(items);
            v->cls = nullptr;
            v->args = nullptr;
        } else if (name == "complex") {
            double re = 0;
            double im = 0;
            if (first && !first->toDouble(re))
                return;
            if (arg(v, 1) && !arg(v, 1)->toDouble(im))
                return;
            v->kind = ValueKind::Complex;
            v->real = re;
            v->imag = im;
            v->cls = nullptr;
            v->args = nullptr;
        } else if (name == "bytearray" || name == "bytes") {
            std::string bytes;
            std::string_view text; // a text of the graph is shared (immutable), a conversion copied
            if (first && (first->kind == ValueKind::Bytes || first->kind == ValueKind::ByteArray))
                text = first->text;
            else if (first && first->kind == ValueKind::Str && !latin1Bytes(first->text, bytes))
                return;
            else if (first && first->kind != ValueKind::Str)
                return;
            else if (first)
                text = m_data.graph.copyText(bytes);
            v->kind = name == "bytes" ? ValueKind::Bytes : ValueKind::ByteArray;
            v->text = text;
            v->cls = nullptr;
            v->args = nullptr;
        }
    }

    void convertCodecsEncode(Value *v)
    {
        Value *first = arg(v, 0);
        std::string bytes;
        if (!isStr(first) || !latin1Bytes(first->text, bytes))
            return;
        v->kind = ValueKind::Bytes;
        m_data.graph.setText(v, bytes);
        v->cls = nullptr;
        v->args = nullptr;
    }

    void convertJitPickle(Value *v, std::string_view name)
    {
        Value *first = arg(v, 0);
        if (!first)
            return;
        if (name == "restore_type_tag") {
            convert(first);
            becomeCopyOf(v, first);
        } else if (name.starts_with("build_") && name.ends_with("list") && isSeq(first)) {
            for (Value *item : first->items)
                convert(item);
            ValueList items = first->items;
            v->kind = ValueKind::List;
            v->items = std::move(items);
            v->cls = nullptr;
            v->args = nullptr;
        }
    }

    CheckpointData &m_data;
    const StorageResolver &m_resolve;
    const PlainIdResolver &m_plainId;
    std::string m_pickle;
    /// Calls being converted, innermost last: a short stack (forward references only), so a
    /// scan beats a hash set that allocates a node for each of the 100,000s of calls.
    std::vector<Value *> m_converting;
    const Value *m_lastGlobal = nullptr; ///< convertCall(): module and name of this global
    std::string_view m_lastModule;
    std::string_view m_lastName;
    const Value *m_lastStorageType = nullptr; ///< convertPersistentId(): dtype of this global
    std::optional<DType> m_lastStorageDType;
};

} // namespace

void interpretGraph(CheckpointData &data, std::size_t firstNode, const StorageResolver &resolve,
                    const std::string &pickleName, const PlainIdResolver &plainId)
{
    Interpreter(data, resolve, pickleName, plainId).run(firstNode);
}

std::string pathKey(const Value *key)
{
    if (key && key->kind == ValueKind::Str)
        return std::string(key->text);
    return pyRepr(key, 4, 16);
}

std::optional<DType> storageTypeDType(const Value *global)
{
    if (!global || global->kind != ValueKind::Global)
        return std::nullopt;
    const std::string_view mod = global->module();
    const std::string_view name = global->name();
    if (mod != "torch" && mod != "torch.cuda" && mod != "torch.storage")
        return std::nullopt;
    if (name == "UntypedStorage" || name == "_UntypedStorage" || name == "ByteStorage")
        return DType::UInt8;
    return dtypeFromStorageClass(name);
}

namespace {

struct WalkFrame
{
    Value *node;
    std::vector<std::pair<std::string, Value *>> children;
    std::size_t next = 0;
};

void appendDictChildren(const Value *dict, std::vector<std::pair<std::string, Value *>> &out)
{
    out.reserve(out.size() + dict->dictSize());
    for (std::size_t i = 0; i < dict->dictSize(); ++i)
        out.emplace_back(pathKey(dict->dictKey(i)), dict->dictValue(i));
}

void appendSeqChildren(const Value *seq, std::vector<std::pair<std::string, Value *>> &out)
{
    out.reserve(out.size() + seq->items.size());
    for (std::size_t i = 0; i < seq->items.size(); ++i)
        out.emplace_back(std::to_string(i), seq->items[i]);
}

/// The children a path walk descends into (PRODUCT.md 4 "Paths"): dict items, sequence
/// elements, and an object's attributes (its BUILD state dict, or the dict part of a
/// (dict, slots) state). Arguments of opaque calls are not descended into.
std::vector<std::pair<std::string, Value *>> walkChildren(const Value *v)
{
    std::vector<std::pair<std::string, Value *>> out;
    switch (v->kind) {
    case ValueKind::Dict:
        appendDictChildren(v, out);
        break;
    case ValueKind::List:
    case ValueKind::Tuple:
        appendSeqChildren(v, out);
        break;
    case ValueKind::Object:
        if (v->dictItems() && v->dictItems()->kind == ValueKind::Dict) {
            appendDictChildren(v->dictItems(), out);
        } else if (v->listItems() && v->listItems()->kind == ValueKind::List) {
            appendSeqChildren(v->listItems(), out);
        } else if (v->state) {
            if (v->state->kind == ValueKind::Dict) {
                appendDictChildren(v->state, out);
            } else if (v->state->kind == ValueKind::Tuple && v->state->items.size() == 2) {
                for (const Value *part : v->state->items)
                    if (part && part->kind == ValueKind::Dict)
                        appendDictChildren(part, out);
            }
        }
        break;
    default:
        break;
    }
    return out;
}

constexpr std::uint64_t kMaxWalkVisits = 20'000'000;
// Issue 6: keys held by all listed paths together. A memo "bomb" (each level holding the one
// below twice) reaches a tensor through 2^n paths of n keys each: capped, the listing stays
// within ~128 MB. Real checkpoints hold a few million keys at most.
constexpr std::uint64_t kMaxPathKeys = 4'000'000;

} // namespace

std::vector<std::pair<std::string, Value *>> pathChildren(const Value *v)
{
    return walkChildren(v);
}

namespace {

/// Where a path walk finds the children of one node, without copying them (walkChildren()'s
/// rule): up to two dicts (an object's (dict, slots) state) or one sequence.
struct ChildSource
{
    const Value *parts[2] = {nullptr, nullptr};
    bool dict = false;

    std::size_t partSize(std::size_t i) const noexcept
    {
        return dict ? parts[i]->dictSize() : parts[i]->items.size();
    }
    bool empty() const noexcept
    {
        return (!parts[0] || partSize(0) == 0) && (!parts[1] || partSize(1) == 0);
    }
};

ChildSource childSource(const Value *v) noexcept
{
    ChildSource s;
    switch (v->kind) {
    case ValueKind::Dict:
        s.parts[0] = v;
        s.dict = true;
        break;
    case ValueKind::List:
    case ValueKind::Tuple:
        s.parts[0] = v;
        break;
    case ValueKind::Object:
        if (v->dictItems() && v->dictItems()->kind == ValueKind::Dict) {
            s.parts[0] = v->dictItems();
            s.dict = true;
        } else if (v->listItems() && v->listItems()->kind == ValueKind::List) {
            s.parts[0] = v->listItems();
        } else if (v->state) {
            if (v->state->kind == ValueKind::Dict) {
                s.parts[0] = v->state;
                s.dict = true;
            } else if (v->state->kind == ValueKind::Tuple && v->state->items.size() == 2) {
                s.dict = true;
                std::size_t n = 0;
                for (const Value *part : v->state->items)
                    if (part && part->kind == ValueKind::Dict)
                        s.parts[n++] = part;
            }
        }
        break;
    default:
        break;
    }
    return s;
}

struct PathFrame
{
    Value *node;
    ChildSource source;
    std::size_t part = 0;
    std::size_t next = 0;
    bool repeat = false; // a shared container listed again (SharedWalkGuard)
};

/// Nodes on the current walk path: the first kShallow frames are scanned (typical checkpoints
/// are a few levels deep: no allocation per container), deeper ones are hashed.
constexpr std::size_t kShallow = 32;

} // namespace

void collectTensorPaths(CheckpointData &data, Value *root, const std::vector<std::string> &prefix,
                        std::uint32_t maxDepth)
{
    if (!root)
        return;
    // Path keys are views of text the graph owns: a str key's own text, or a copy of a built
    // key (an index, a non-str dict key) made when a path uses it (TensorPath::keys).
    std::vector<std::string_view> keys;
    keys.reserve(prefix.size());
    for (const std::string &p : prefix)
        keys.push_back(data.graph.copyText(p));
    if (root->kind == ValueKind::Tensor) {
        data.paths.push_back({keys, static_cast<int>(root->integer)});
        return;
    }
    data.paths.reserve(data.paths.size() + data.tensors.size());
    adviseHugePagesForSpare(data.paths);
    std::vector<PathFrame> stack;
    std::unordered_set<const Value *> deepOnPath;
    auto onPath = [&](const Value *v) {
        const std::size_t shallow = std::min(stack.size(), kShallow);
        for (std::size_t i = 0; i < shallow; ++i)
            if (stack[i].node == v)
                return true;
        return stack.size() > kShallow && deepOnPath.count(v) > 0;
    };
    auto pushFrame = [&](Value *v, const ChildSource &source, bool repeat) {
        if (stack.size() >= kShallow)
            deepOnPath.insert(v);
        stack.push_back({v, source, 0, 0, repeat});
    };
    SharedWalkGuard guard;
    guard.enter(root);
    pushFrame(root, childSource(root), false);
    std::uint64_t visits = 0;
    std::uint64_t pathKeys = 0;
    bool depthWarned = false;
    std::string indexKey;
    while (!stack.empty()) {
        PathFrame &top = stack.back();
        while (top.part < 2 && (!top.source.parts[top.part] || top.next >= top.source.partSize(top.part))) {
            ++top.part;
            top.next = 0;
        }
        if (top.part >= 2 || guard.abandonRepeat()) {
            if (stack.size() > kShallow)
                deepOnPath.erase(top.node);
            if (top.repeat)
                guard.leaveRepeat();
            stack.pop_back();
            if (!keys.empty() && keys.size() > prefix.size())
                keys.pop_back();
            continue;
        }
        const Value *container = top.source.parts[top.part];
        const std::size_t i = top.next++;
        Value *child = top.source.dict ? container->dictValue(i) : container->items[i];
        if (!child)
            continue;
        guard.charge(1);
        if (++visits > kMaxWalkVisits) {
            data.warnings.push_back({"the listing stopped after " + std::to_string(kMaxWalkVisits)
                                         + " values (the same objects are reachable through very many paths)",
                                     {}, FormatError::kNoOffset});
            return;
        }
        // The child's path key: a str key is used in place; other keys and indexes are built.
        std::string_view key;
        bool built = true; // key is indexKey: copied into the graph when a path takes it
        if (top.source.dict) {
            const Value *k = container->dictKey(i);
            if (k && k->kind == ValueKind::Str) {
                key = k->text;
                built = false;
            } else {
                indexKey = pathKey(k);
                key = indexKey;
            }
        } else {
            indexKey = std::to_string(i);
            key = indexKey;
        }
        auto stableKey = [&] { return built ? data.graph.copyText(indexKey) : key; };
        if (child->kind == ValueKind::Tensor) {
            guard.charge(keys.size() + 1);
            pathKeys += keys.size() + 1;
            if (pathKeys > kMaxPathKeys) {
                data.warnings.push_back({"the listing stopped after " + std::to_string(data.paths.size())
                                             + " tensor paths (the same tensors are reachable through very many paths)",
                                         {}, FormatError::kNoOffset});
                return;
            }
            TensorPath path;
            path.keys.reserve(keys.size() + 1);
            path.keys.assign(keys.begin(), keys.end());
            path.keys.push_back(stableKey());
            path.tensor = static_cast<int>(child->integer);
            data.paths.push_back(std::move(path));
            continue;
        }
        if (onPath(child))
            continue; // a cycle: the object contains itself
        const ChildSource source = childSource(child);
        if (source.empty())
            continue;
        if (stack.size() >= maxDepth) {
            if (!depthWarned)
                data.warnings.push_back({"values nested deeper than " + std::to_string(maxDepth)
                                             + " levels are not listed",
                                         {}, child->offset});
            depthWarned = true;
            continue;
        }
        const SharedWalkGuard::Enter entered = guard.enter(child);
        if (entered == SharedWalkGuard::Enter::Skip)
            continue;
        keys.push_back(stableKey());
        pushFrame(child, source, entered == SharedWalkGuard::Enter::Repeat); // `top` is invalid from here
    }
    if (guard.spent())
        data.warnings.push_back({"containers shared by very many paths are listed again only within a budget: every tensor "
                                     "is listed, but at least " + std::to_string(guard.skipped() + 1)
                                     + " further paths through shared containers are not",
                                 {}, FormatError::kNoOffset});
}

} // namespace ckpt::format

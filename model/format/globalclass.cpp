// SPDX-License-Identifier: MIT
#include "globalclass.h"

#include "dtype.h"

#include <algorithm>
#include <iterator>
#include <vector>

namespace ckpt::format {

namespace {

/// `module` is `root` or a submodule of it.
bool inModule(std::string_view module, std::string_view root) noexcept
{
    return module.starts_with(root) && (module.size() == root.size() || module[root.size()] == '.');
}

template <std::size_t N>
bool oneOf(std::string_view s, const std::string_view (&list)[N]) noexcept
{
    return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

/// Python 2 module names that _compat_pickle maps to a module we classify (so that a
/// protocol-3+ pickle naming `__builtin__ eval` is still flagged; the unpickler only maps names
/// for protocols < 3, like CPython).
std::string_view python3Module(std::string_view module) noexcept
{
    struct Alias
    {
        std::string_view from;
        std::string_view to;
    };
    static constexpr Alias kAliases[] = {
        {"__builtin__", "builtins"}, {"copy_reg", "copyreg"},     {"commands", "subprocess"},
        {"cPickle", "pickle"},       {"SocketServer", "socketserver"}, {"httplib", "http.client"},
        {"urllib2", "urllib.request"}, {"_winreg", "winreg"},     {"thread", "_thread"},
        {"exceptions", "builtins"},
    };
    for (const Alias &a : kAliases)
        if (a.from == module)
            return a.to;
    return module;
}

// --- Dangerous ---------------------------------------------------------------------------------
// A global is dangerous when calling it (REDUCE/NEWOBJ/INST/OBJ/BUILD under torch.load) with
// arguments chosen by the file can run code, start processes, import modules, open or create
// files (tempfile, numpy.save, io.open) or sockets, or reach arbitrary attributes (the getattr /
// attrgetter gadgets). Merely building a callable (functools.partial, functools.reduce,
// operator.itemgetter, builtins.type) is not flagged: it can only do harm through another global
// that is flagged itself. torch.ops is flagged (it resolves and runs any registered operator,
// custom ones included); torch.fx's reduce_*graph_module exec the Python source they carry.
// torch.storage._load_from_bytes is a tensor builder, not dangerous: its payload is a nested
// torch.save stream that we read with the same non-executing machine.

/// Whole modules (and their submodules): every name in them is dangerous.
constexpr std::string_view kDangerousModules[] = {
    "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "_winapi", "winreg", "msvcrt",
    "runpy", "importlib", "imp", "zipimport", "pkgutil", "pickle", "_pickle", "marshal", "shelve",
    "dill", "cloudpickle", "joblib", "shutil", "tempfile", "socket", "_socket", "socketserver",
    "ssl", "asyncio", "http", "urllib", "ftplib", "smtplib", "poplib", "imaplib", "nntplib",
    "telnetlib", "xmlrpc", "webbrowser", "ctypes", "_ctypes", "cffi", "pty", "code", "codeop",
    "multiprocessing", "_multiprocessing", "signal", "_signal", "_thread", "pdb", "bdb", "timeit",
    "trace", "profile", "cProfile", "doctest", "pydoc", "idlelib", "distutils", "setuptools", "pip",
    "ensurepip", "venv", "platform", "sqlite3", "_sqlite3", "dbm",
};

/// builtins names (also reached as `__builtin__ x` in protocol-3+ pickles).
constexpr std::string_view kDangerousBuiltins[] = {
    "eval", "exec", "execfile", "compile", "getattr", "setattr", "delattr", "__import__", "open",
    "input", "raw_input", "breakpoint", "globals", "locals", "vars", "apply", "file", "reload",
    "help", "exit", "quit",
};

struct QualifiedName
{
    std::string_view module;
    std::string_view name; ///< empty: any name in the module (and its submodules)
};

constexpr QualifiedName kDangerousNames[] = {
    {"operator", "attrgetter"},
    {"operator", "methodcaller"},
    {"operator", "call"},
    {"_operator", "attrgetter"},
    {"_operator", "methodcaller"},
    {"_operator", "call"},
    {"io", "open"},
    {"io", "open_code"},
    {"io", "FileIO"},
    {"_io", "open"},
    {"_io", "open_code"},
    {"_io", "FileIO"},
    {"codecs", "open"},
    {"types", "CodeType"},
    {"types", "FunctionType"},
    {"types", "LambdaType"},
    {"torch", "load"},
    {"torch.serialization", "load"},
    {"torch.hub", ""},
    {"torch.ops", ""},
    {"torch._ops", ""},
    {"torch.package", ""},
    {"torch.utils.cpp_extension", ""},
    {"torch.jit", "load"},
    {"torch.jit._serialization", "load"},
    {"torch.fx.graph_module", "reduce_graph_module"},
    {"torch.fx.graph_module", "reduce_package_graph_module"},
    {"torch.fx.graph_module", "reduce_deploy_graph_module"},
    {"numpy", "load"},
    {"numpy", "save"},
    {"numpy", "savez"},
    {"numpy", "memmap"},
    {"numpy.lib.npyio", ""},
    {"numpy.lib.format", "read_array"},
    {"numpy.testing._private.utils", "runstring"},
    {"numpy.testing.utils", "runstring"},
    {"numpy.ctypeslib", ""},
    {"numpy.f2py", ""},
    {"numpy.distutils", ""},
};

bool matches(const QualifiedName &q, std::string_view module, std::string_view name) noexcept
{
    if (q.name.empty())
        return inModule(module, q.module);
    return module == q.module && name == q.name;
}

bool isDangerous(std::string_view module, std::string_view name) noexcept
{
    for (std::string_view root : kDangerousModules)
        if (inModule(module, root))
            return true;
    if (module == "builtins" && oneOf(name, kDangerousBuiltins))
        return true;
    for (const QualifiedName &q : kDangerousNames)
        if (matches(q, module, name))
            return true;
    return false;
}

// --- Tensor ------------------------------------------------------------------------------------

bool isTensor(std::string_view module, std::string_view name) noexcept
{
    if (module == "torch._utils")
        return name.starts_with("_rebuild_");
    if (module == "torch._tensor" || module == "torch.tensor") // the latter: pre-1.9 module name
        return name == "_rebuild_from_type" || name == "_rebuild_from_type_v2" || name == "Tensor";
    if (module == "torch" || module == "torch.cuda") {
        if (name.ends_with("Storage") || name == "Tensor")
            return true;
        if (name.ends_with("Tensor"))
            return dtypeFromTensorClass(name).has_value();
        return false;
    }
    if (module == "torch.storage")
        return name == "UntypedStorage" || name == "TypedStorage" || name == "_UntypedStorage"
               || name == "_TypedStorage" || name == "_LegacyStorage" || name == "_load_from_bytes";
    if (module == "torch.nn.parameter")
        return name == "Parameter" || name == "Buffer";
    if (module == "torch.nested._internal.nested_tensor") // torch 2.x's jagged nested tensors
        return name == "_rebuild_njt" || name == "NestedTensor";
    return false;
}

// --- Value -------------------------------------------------------------------------------------

constexpr std::string_view kTorchValueNames[] = {
    // misc value types and enum-like globals
    "Size", "device", "dtype", "layout", "memory_format", "qscheme",
    "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn",
    "jagged", "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
    // sub-byte integer dtypes of newer torch (not in dtype.h's table)
    "int1", "int2", "int3", "int4", "int5", "int6", "int7",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
};

constexpr std::string_view kBuiltinValueNames[] = {
    "set", "frozenset", "slice", "complex", "bytearray", "bytes", "range", "object", "int",
    "float", "str", "bool", "tuple", "list", "dict", "NoneType", "Ellipsis", "NotImplemented",
};

bool isValue(std::string_view module, std::string_view name) noexcept
{
    if (module == "collections")
        return name == "OrderedDict" || name == "Counter" || name == "defaultdict" || name == "deque";
    if (module == "torch")
        return oneOf(name, kTorchValueNames) || dtypeFromName(name).has_value();
    if (module == "torch.serialization")
        return name == "_get_layout";
    if (module == "builtins")
        return oneOf(name, kBuiltinValueNames);
    if (module == "_codecs" || module == "codecs")
        return name == "encode";
    if (module == "copyreg")
        return name == "_reconstructor" || name == "__newobj__" || name == "__newobj_ex__";
    return inModule(module, "torch.jit._pickle");
}

// --- Known -------------------------------------------------------------------------------------

bool isKnown(std::string_view module, std::string_view name) noexcept
{
    if (module == "numpy.core.multiarray" || module == "numpy._core.multiarray")
        return name == "_reconstruct" || name == "scalar";
    if (inModule(module, "numpy._core") || inModule(module, "numpy.core._multiarray_umath"))
        return true;
    if (module == "numpy.core.numeric")
        return name == "_frombuffer";
    if (module == "numpy")
        return name == "dtype" || name == "ndarray";
    if (inModule(module, "numpy.random._pickle") || module == "numpy.dtypes")
        return true;
    if (module == "argparse")
        return name == "Namespace";
    if (inModule(module, "torch.nn") || inModule(module, "__torch__") || inModule(module, "torch.optim")
        || inModule(module, "torch.distributed.checkpoint"))
        return true;
    if (inModule(module, "torch.amp") || inModule(module, "torch.cuda.amp"))
        return name == "GradScaler";
    return false;
}

/// Attribute names that reach the interpreter from any object (`numpy.__builtins__`,
/// `x.__class__.__subclasses__`, `f.__globals__`).
constexpr std::string_view kDangerousAttributes[] = {
    "__builtins__", "__builtin__", "__globals__", "__code__", "__subclasses__", "__getattribute__",
    "__import__", "__loader__", "__spec__", "__class__", "__base__", "__bases__", "__mro__",
    "__dict__", "__reduce__", "__reduce_ex__", "__self__", "__func__", "__closure__",
};

} // namespace

bool globalIsDenyListed(std::string_view module, std::string_view name) noexcept
{
    module = python3Module(module);
    if (isDangerous(module, name))
        return true;
    // A dotted name (protocol 4's attribute paths: `torch` + `os.system`, `__main__` +
    // `os.system`, `builtins` + `eval.__call__`) is judged by what it reaches: its first
    // segment in `module`, and every run of segments taken as a module path of its own (a module
    // that imported `os` has it as an attribute). Dotted *module* names need no such walk:
    // find_class imports them, and `torch.os` is no module.
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        const std::size_t dot = name.find('.', start);
        parts.push_back(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
    for (std::string_view part : parts)
        if (oneOf(part, kDangerousAttributes))
            return true;
    if (parts.size() == 1)
        return false;
    if (isDangerous(module, parts[0]))
        return true;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        for (std::size_t j = i + 1; j < parts.size(); ++j) {
            const std::string_view head(parts[i].data(),
                                        static_cast<std::size_t>(parts[j - 1].data() + parts[j - 1].size() - parts[i].data()));
            if (isDangerous(python3Module(head), parts[j]) || isDangerous(head, ""))
                return true;
        }
    }
    return false;
}

std::string_view globalRoleName(GlobalRole role) noexcept
{
    switch (role) {
    case GlobalRole::Referenced: return "referenced";
    case GlobalRole::SetState: return "setstate";
    case GlobalRole::Instantiated: return "instantiated";
    case GlobalRole::Called: return "called";
    }
    return "referenced";
}

std::string_view globalClassName(GlobalClass c) noexcept
{
    switch (c) {
    case GlobalClass::Tensor: return "tensor";
    case GlobalClass::Value: return "value";
    case GlobalClass::Known: return "known";
    case GlobalClass::Opaque: return "opaque";
    case GlobalClass::Dangerous: return "dangerous";
    }
    return "opaque";
}

GlobalClass classifyGlobal(std::string_view module, std::string_view name) noexcept
{
    module = python3Module(module);
    // Dangerous first: torch.load or torch.hub.* must not pass as "torch" values.
    if (isDangerous(module, name))
        return GlobalClass::Dangerous;
    if (isTensor(module, name))
        return GlobalClass::Tensor;
    if (isValue(module, name))
        return GlobalClass::Value;
    if (isKnown(module, name))
        return GlobalClass::Known;
    return GlobalClass::Opaque;
}

} // namespace ckpt::format

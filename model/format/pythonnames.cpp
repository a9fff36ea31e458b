// SPDX-License-Identifier: MIT
#include "pythonnames.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <unordered_map>

namespace ckpt::format {

namespace {

// --- Python 2 -> 3 names (CPython's Lib/_compat_pickle.py, reimplemented) ----------------------

struct NamePair
{
    std::string_view from;
    std::string_view to;
};

/// IMPORT_MAPPING: whole modules.
constexpr NamePair kModuleMap[] = {
    {"__builtin__", "builtins"}, {"copy_reg", "copyreg"}, {"Queue", "queue"},
    {"SocketServer", "socketserver"}, {"ConfigParser", "configparser"}, {"repr", "reprlib"},
    {"tkFileDialog", "tkinter.filedialog"}, {"tkSimpleDialog", "tkinter.simpledialog"},
    {"tkColorChooser", "tkinter.colorchooser"}, {"tkCommonDialog", "tkinter.commondialog"},
    {"Dialog", "tkinter.dialog"}, {"Tkdnd", "tkinter.dnd"}, {"tkFont", "tkinter.font"},
    {"tkMessageBox", "tkinter.messagebox"}, {"ScrolledText", "tkinter.scrolledtext"},
    {"Tkconstants", "tkinter.constants"}, {"Tix", "tkinter.tix"}, {"ttk", "tkinter.ttk"},
    {"Tkinter", "tkinter"}, {"markupbase", "_markupbase"}, {"_winreg", "winreg"},
    {"thread", "_thread"}, {"dummy_thread", "_dummy_thread"}, {"dbhash", "dbm.bsd"},
    {"dumbdbm", "dbm.dumb"}, {"dbm", "dbm.ndbm"}, {"gdbm", "dbm.gnu"},
    {"xmlrpclib", "xmlrpc.client"}, {"SimpleXMLRPCServer", "xmlrpc.server"},
    {"httplib", "http.client"}, {"htmlentitydefs", "html.entities"},
    {"HTMLParser", "html.parser"}, {"Cookie", "http.cookies"}, {"cookielib", "http.cookiejar"},
    {"BaseHTTPServer", "http.server"}, {"test.test_support", "test.support"},
    {"commands", "subprocess"}, {"urlparse", "urllib.parse"},
    {"robotparser", "urllib.robotparser"}, {"urllib2", "urllib.request"}, {"anydbm", "dbm"},
    {"_abcoll", "collections.abc"},
    // one-way additions
    {"cPickle", "pickle"}, {"_elementtree", "xml.etree.ElementTree"},
    {"FileDialog", "tkinter.filedialog"}, {"SimpleDialog", "tkinter.simpledialog"},
    {"DocXMLRPCServer", "xmlrpc.server"}, {"SimpleHTTPServer", "http.server"},
    {"CGIHTTPServer", "http.server"}, {"UserDict", "collections"}, {"UserList", "collections"},
    {"UserString", "collections"}, {"whichdb", "dbm"}, {"StringIO", "io"}, {"cStringIO", "io"},
};

/// NAME_MAPPING: (module, name) pairs, written "module\nname".
constexpr NamePair kNameMap[] = {
    {"__builtin__\nxrange", "builtins\nrange"},
    {"__builtin__\nreduce", "functools\nreduce"},
    {"__builtin__\nintern", "sys\nintern"},
    {"__builtin__\nunichr", "builtins\nchr"},
    {"__builtin__\nunicode", "builtins\nstr"},
    {"__builtin__\nlong", "builtins\nint"},
    {"__builtin__\nbasestring", "builtins\nstr"},
    {"itertools\nizip", "builtins\nzip"},
    {"itertools\nimap", "builtins\nmap"},
    {"itertools\nifilter", "builtins\nfilter"},
    {"itertools\nifilterfalse", "itertools\nfilterfalse"},
    {"itertools\nizip_longest", "itertools\nzip_longest"},
    {"UserDict\nIterableUserDict", "collections\nUserDict"},
    {"UserDict\nUserDict", "collections\nUserDict"},
    {"UserList\nUserList", "collections\nUserList"},
    {"UserString\nUserString", "collections\nUserString"},
    {"whichdb\nwhichdb", "dbm\nwhichdb"},
    {"_socket\nfromfd", "socket\nfromfd"},
    {"socket\n_socketobject", "socket\nSocketType"},
    {"_multiprocessing\nConnection", "multiprocessing.connection\nConnection"},
    {"multiprocessing.process\nProcess", "multiprocessing.context\nProcess"},
    {"multiprocessing.forking\nPopen", "multiprocessing.popen_fork\nPopen"},
    {"urllib\nContentTooShortError", "urllib.error\nContentTooShortError"},
    {"urllib\ngetproxies", "urllib.request\ngetproxies"},
    {"urllib\npathname2url", "urllib.request\npathname2url"},
    {"urllib\nquote_plus", "urllib.parse\nquote_plus"},
    {"urllib\nquote", "urllib.parse\nquote"},
    {"urllib\nunquote_plus", "urllib.parse\nunquote_plus"},
    {"urllib\nunquote", "urllib.parse\nunquote"},
    {"urllib\nurl2pathname", "urllib.request\nurl2pathname"},
    {"urllib\nurlcleanup", "urllib.request\nurlcleanup"},
    {"urllib\nurlencode", "urllib.parse\nurlencode"},
    {"urllib\nurlopen", "urllib.request\nurlopen"},
    {"urllib\nurlretrieve", "urllib.request\nurlretrieve"},
    {"urllib2\nHTTPError", "urllib.error\nHTTPError"},
    {"urllib2\nURLError", "urllib.error\nURLError"},
    {"exceptions\nStandardError", "builtins\nException"},
    {"multiprocessing\nAuthenticationError", "multiprocessing.context\nAuthenticationError"},
    {"multiprocessing\nBufferTooShort", "multiprocessing.context\nBufferTooShort"},
    {"multiprocessing\nProcessError", "multiprocessing.context\nProcessError"},
    {"multiprocessing\nTimeoutError", "multiprocessing.context\nTimeoutError"},
};

/// Python 2 `exceptions` module names that moved to builtins.
constexpr std::string_view kPython2Exceptions[] = {
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "BufferError",
    "BytesWarning", "DeprecationWarning", "EOFError", "EnvironmentError", "Exception",
    "FloatingPointError", "FutureWarning", "GeneratorExit", "IOError", "ImportError",
    "ImportWarning", "IndentationError", "IndexError", "KeyError", "KeyboardInterrupt",
    "LookupError", "MemoryError", "NameError", "NotImplementedError", "OSError", "OverflowError",
    "PendingDeprecationWarning", "ReferenceError", "RuntimeError", "RuntimeWarning",
    "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError", "SystemExit", "TabError",
    "TypeError", "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError",
    "UnicodeTranslateError", "UnicodeWarning", "UserWarning", "ValueError", "Warning",
    "ZeroDivisionError",
};

template <std::size_t N>
std::unordered_map<std::string_view, std::string_view> makeMap(const NamePair (&pairs)[N])
{
    std::unordered_map<std::string_view, std::string_view> m;
    m.reserve(N);
    for (const NamePair &p : pairs)
        m.emplace(p.from, p.to);
    return m;
}

} // namespace

void mapPython2Name(std::string &text)
{
    static const auto kNames = makeMap(kNameMap);
    static const auto kModules = makeMap(kModuleMap);
    if (const auto it = kNames.find(text); it != kNames.end()) {
        text.assign(it->second);
        return;
    }
    const auto nl = text.find('\n');
    const std::string_view module(text.data(), nl);
    const std::string_view name = std::string_view(text).substr(nl + 1);
    if (module == "exceptions"
        && std::find(std::begin(kPython2Exceptions), std::end(kPython2Exceptions), name)
               != std::end(kPython2Exceptions)) {
        text.replace(0, nl, "builtins");
        return;
    }
    if (const auto it = kModules.find(module); it != kModules.end())
        text.replace(0, nl, it->second);
}

} // namespace ckpt::format

// SPDX-License-Identifier: MIT
#include "checkpointtree.h"

#include "displayformat.h"
#include "torchlayout.h"

#include <QFileInfo>
#include <QSet>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace ckpt {

using format::Value;
using format::ValueKind;

QString nodeKindName(NodeKind kind)
{
    switch (kind) {
    case NodeKind::File: return QStringLiteral("file");
    case NodeKind::Module: return QStringLiteral("module");
    case NodeKind::Parameter: return QStringLiteral("parameter");
    case NodeKind::Buffer: return QStringLiteral("buffer");
    case NodeKind::Tensor: return QStringLiteral("tensor");
    case NodeKind::Dict: return QStringLiteral("dict");
    case NodeKind::List: return QStringLiteral("list");
    case NodeKind::Scalar: return QStringLiteral("scalar");
    case NodeKind::String: return QStringLiteral("string");
    case NodeKind::Object: return QStringLiteral("object");
    case NodeKind::Storage: return QStringLiteral("storage");
    case NodeKind::More: return QStringLiteral("more");
    }
    return {};
}

QStringList TreeNode::keys() const
{
    std::vector<const TreeNode *> chain;
    for (const TreeNode *n = this; n && n->kind != NodeKind::File; n = n->parent)
        if (!n->rootValue && !n->pathless)
            chain.push_back(n);
    QStringList out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const TreeNode *n = *it;
        if (!n->rawPrefix.isEmpty())
            out << n->rawPrefix;
        if (n->dotJoined && !out.isEmpty())
            out.last() += QLatin1Char('.') + n->name;
        else
            out << n->name;
    }
    return out;
}

QString TreeNode::path() const
{
    return keys().join(QLatin1Char('/'));
}

QString TreeNode::treePath() const
{
    QStringList parts;
    for (const TreeNode *n = this; n && n->kind != NodeKind::File; n = n->parent)
        if (!n->rootValue)
            parts.prepend(n->name);
    return parts.join(QLatin1Char('/'));
}

namespace {

bool isBufferName(const QString &leaf)
{
    static const QSet<QString> names{
        QStringLiteral("running_mean"), QStringLiteral("running_var"),
        QStringLiteral("num_batches_tracked"), QStringLiteral("position_ids"),
        QStringLiteral("token_type_ids"), QStringLiteral("inv_freq"),
        QStringLiteral("attn_mask"), QStringLiteral("relative_position_index"),
        QStringLiteral("anchor_grid"), QStringLiteral("scale_factor"),
        QStringLiteral("mask"), QStringLiteral("masked_bias"),
    };
    return names.contains(leaf);
}

QString globalText(const Value *g)
{
    if (!g)
        return {};
    if (g->kind == ValueKind::Global)
        return qs(g->module()) + QLatin1Char('.') + qs(g->name());
    return {};
}

QString containerTypeText(const Value *v)
{
    switch (v->kind) {
    case ValueKind::Tuple: return QStringLiteral("tuple");
    case ValueKind::List: return QStringLiteral("list");
    case ValueKind::Set: return QStringLiteral("set");
    case ValueKind::FrozenSet: return QStringLiteral("frozenset");
    case ValueKind::Dict: {
        const QString cls = globalText(v->cls);
        if (cls.isEmpty())
            return QStringLiteral("dict");
        const qsizetype dot = cls.lastIndexOf(QLatin1Char('.'));
        return dot >= 0 ? cls.mid(dot + 1) : cls;
    }
    default: return {};
    }
}

QString countText(std::size_t n, const char *one, const char *many)
{
    return groupedCount(n) + QLatin1Char(' ') + QLatin1String(n == 1 ? one : many);
}

} // namespace

class TreeBuilder
{
public:
    TreeBuilder(CheckpointTree &tree, const CheckpointTree::Limits &limits)
        : m_tree(tree), m_data(*tree.m_data), m_limits(limits)
    {
    }

    void run()
    {
        auto root = std::make_unique<TreeNode>();
        root->kind = NodeKind::File;
        root->name = QFileInfo(qs(m_data.file)).fileName();
        if (root->name.isEmpty())
            root->name = qs(m_data.file);
        root->typeText = qs(format::formatName(m_data.format));
        m_tree.m_nodeCount = 1;
        m_tree.m_nodesByTensor.resize(m_data.tensors.size());

        if (const Value *v = m_data.root) {
            if (isBrowsableContainer(v)) {
                root->value = v;
                m_ancestors.insert(v);
                addChildren(root.get(), v, 1);
                m_ancestors.erase(v);
            } else {
                // A bare tensor or value: one row with an empty path.
                addValue(root.get(), QStringLiteral("(root)"), v, false, 1, Context::Plain);
                root->children.back()->rootValue = true;
            }
        }
        addUnreachedPaths(root.get());
        sumUp(root.get());
        // The file's row shows what the file holds, as the summary and the status bar do
        // (distinct tensors, their storages' bytes); module rows below sum their paths.
        const std::vector<TrainingItem> items = findTrainingState(m_data);
        m_tree.m_totals = checkpointTotals(m_data, items);
        nameOptimizerState(root.get(), items);
        root->tensorCount = static_cast<std::uint32_t>(std::min<std::size_t>(m_tree.m_totals.tensors, UINT32_MAX));
        root->elements = m_tree.m_totals.elements;
        root->bytes = m_tree.m_totals.bytes;
        root->shapeText = countText(root->tensorCount, "tensor", "tensors");
        m_tree.m_root = std::move(root);
    }

private:
    enum class Context { Plain, StateDict, Parameters, Buffers };

    /// The row of a raw path below `from`, following plain rows (not folded or split ones).
    static TreeNode *rowAt(TreeNode *from, const std::vector<std::string> &keys)
    {
        TreeNode *at = from;
        for (const std::string &key : keys) {
            const QString name = qs(key);
            TreeNode *next = nullptr;
            for (auto &c : at->children)
                if (c->name == name && c->rawPrefix.isEmpty() && !c->dotJoined && !c->pathless) {
                    next = c.get();
                    break;
                }
            if (!next)
                return nullptr;
            at = next;
        }
        return at;
    }

    /// Each optimizer's `state/<id>` rows get the name of their parameter (as `optim` maps it).
    void nameOptimizerState(TreeNode *root, const std::vector<TrainingItem> &items)
    {
        for (const auto &o : optimizerStateNames(m_data, items).optimizers) {
            std::vector<std::string> keys = o.keys;
            keys.push_back("state");
            TreeNode *state = rowAt(root, keys);
            if (!state)
                continue;
            for (const auto &[id, name] : o.names)
                if (TreeNode *row = rowAt(state, {id}))
                    row->alias = qs(name);
        }
    }

    /// Tensors the reader lists at paths the value walk does not reach (TorchScript
    /// `CONSTANTS/c0`, ...) get rows under synthetic group nodes.
    void addUnreachedPaths(TreeNode *root)
    {
        QSet<QString> seen;
        for (const auto &nodes : m_tree.m_nodesByTensor)
            for (const TreeNode *n : nodes)
                seen.insert(n->path());
        for (const format::TensorPath &p : m_data.paths) {
            if (p.keys.empty() || p.tensor < 0
                || static_cast<std::size_t>(p.tensor) >= m_data.tensors.size())
                continue;
            // Paths through shared containers the tree shows as references are not unreached.
            if (m_tree.m_sharedCut && !m_tree.m_nodesByTensor[static_cast<std::size_t>(p.tensor)].empty())
                continue;
            QStringList keys;
            for (const auto &k : p.keys)
                keys << qs(k);
            if (seen.contains(keys.join(QLatin1Char('/'))) || full())
                continue;
            TreeNode *parent = root;
            for (qsizetype i = 0; i + 1 < keys.size(); ++i) {
                TreeNode *next = nullptr;
                for (auto &c : parent->children)
                    if (c->name == keys[i] && c->kind == NodeKind::Dict && !c->value)
                        next = c.get();
                if (!next) {
                    next = newChild(parent, keys[i]);
                    next->kind = NodeKind::Dict;
                    next->typeText = QStringLiteral("group");
                }
                parent = next;
            }
            TreeNode *leaf = newChild(parent, keys.last());
            fillTensorIndex(leaf, p.tensor, Context::Plain);
            seen.insert(keys.join(QLatin1Char('/')));
        }
    }

    static bool isBrowsableContainer(const Value *v)
    {
        switch (v->kind) {
        case ValueKind::Dict:
        case ValueKind::List:
        case ValueKind::Tuple:
        case ValueKind::Set:
        case ValueKind::FrozenSet:
        case ValueKind::Object:
            return true;
        default:
            return false;
        }
    }

    static bool isPlain(const Value *v)
    {
        return !isBrowsableContainer(v) && v->kind != ValueKind::Tensor
            && v->kind != ValueKind::Storage;
    }

    /// No more nodes: the node budget is spent, or a repeated expansion of a shared container
    /// ran out of its budget (then only that expansion stops).
    bool full() const { return m_tree.m_nodeCount >= m_limits.maxNodes || m_guard.abandonRepeat(); }

    TreeNode *newChild(TreeNode *parent, const QString &name)
    {
        auto node = std::make_unique<TreeNode>();
        node->parent = parent;
        node->row = static_cast<int>(parent->children.size());
        node->name = name;
        TreeNode *raw = node.get();
        parent->children.push_back(std::move(node));
        ++m_tree.m_nodeCount;
        m_guard.charge(1);
        return raw;
    }

    void addMore(TreeNode *parent, const QString &text)
    {
        TreeNode *n = newChild(parent, text);
        n->kind = NodeKind::More;
    }

    /// A dict of (mostly) tensors whose keys are str: shown with its dotted keys split.
    static bool looksLikeStateDict(const Value *dict)
    {
        const std::size_t n = dict->dictSize();
        if (n == 0)
            return false;
        std::size_t tensors = 0;
        bool dotted = false;
        for (std::size_t i = 0; i < n; ++i) {
            const Value *k = dict->dictKey(i);
            const Value *v = dict->dictValue(i);
            if (!k || k->kind != ValueKind::Str)
                return false;
            if (v && v->kind == ValueKind::Tensor)
                ++tensors;
            if (k->text.find('.') != std::string::npos)
                dotted = true;
        }
        if (tensors * 2 < n)
            return false;
        return dotted || globalText(dict->cls).endsWith(QLatin1String("OrderedDict"));
    }

    static bool splittable(const std::string &key)
    {
        if (key.empty() || key.front() == '.' || key.back() == '.')
            return false;
        return key.find("..") == std::string::npos;
    }

    void addChildren(TreeNode *node, const Value *v, int depth)
    {
        switch (v->kind) {
        case ValueKind::Dict: addDictChildren(node, v, depth); break;
        case ValueKind::List:
        case ValueKind::Tuple:
        case ValueKind::Set:
        case ValueKind::FrozenSet: addSequenceChildren(node, v->items, depth); break;
        case ValueKind::Object: addObjectChildren(node, v, depth); break;
        default: break;
        }
    }

    void addSequenceChildren(TreeNode *node, const format::ValueList &items, int depth)
    {
        std::size_t plain = 0;
        std::size_t elided = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const Value *item = items[i];
            if (!item)
                continue;
            if (isPlain(item) && ++plain > m_limits.maxPlainChildren) {
                ++elided;
                continue;
            }
            if (full())
                return markTruncated(node);
            addValue(node, QString::number(i), item, false, depth, Context::Plain);
        }
        if (elided)
            addMore(node, QStringLiteral("… ") + countText(elided, "more value", "more values"));
    }

    void addDictChildren(TreeNode *node, const Value *dict, int depth, Context ctx = Context::Plain)
    {
        const bool stateDict = looksLikeStateDict(dict);
        node->stateDict = stateDict;
        if (stateDict)
            ctx = ctx == Context::Plain ? Context::StateDict : ctx;
        // Module nodes created while splitting, keyed by (parent, name).
        std::map<std::pair<const TreeNode *, QString>, TreeNode *> modules;
        std::size_t plain = 0;
        std::size_t elided = 0;
        for (std::size_t i = 0; i < dict->dictSize(); ++i) {
            const Value *k = dict->dictKey(i);
            const Value *val = dict->dictValue(i);
            if (!k || !val)
                continue;
            if (isPlain(val) && ++plain > m_limits.maxPlainChildren) {
                ++elided;
                continue;
            }
            if (full())
                return markTruncated(node);
            const std::string key = format::pathKey(k);
            if (!stateDict || key.find('.') == std::string::npos || !splittable(key)) {
                addValue(node, qs(key), val, false, depth, ctx);
                continue;
            }
            const QStringList segments = qs(key).split(QLatin1Char('.'));
            TreeNode *parent = node;
            for (qsizetype s = 0; s + 1 < segments.size(); ++s) {
                auto keyOf = std::make_pair(static_cast<const TreeNode *>(parent), segments[s]);
                auto it = modules.find(keyOf);
                if (it == modules.end()) {
                    TreeNode *m = newChild(parent, segments[s]);
                    m->kind = NodeKind::Module;
                    m->typeText = QStringLiteral("module");
                    m->dotJoined = parent != node;
                    it = modules.emplace(keyOf, m).first;
                }
                parent = it->second;
            }
            addValue(parent, segments.last(), val, parent != node, depth, ctx);
        }
        if (elided)
            addMore(node, QStringLiteral("… ") + countText(elided, "more entry", "more entries"));
    }

    static const Value *dictState(const Value *state)
    {
        return state && state->kind == ValueKind::Dict ? state : nullptr;
    }

    /// The attribute dict of a whole pickled nn.Module (`_parameters`, `_buffers`, `_modules`).
    static const Value *torchModuleAttributes(const Value *obj)
    {
        if (!obj || obj->kind != ValueKind::Object || obj->dictItems() || obj->listItems())
            return nullptr;
        const Value *attrs = dictState(obj->state);
        if (!attrs)
            return nullptr;
        const Value *params = attrs->get("_parameters");
        const Value *modules = attrs->get("_modules");
        if (params && params->kind == ValueKind::Dict && modules && modules->kind == ValueKind::Dict)
            return attrs;
        return nullptr;
    }

    /// The attribute dict of a TorchScript module object (a `__torch__` class, FORMAT.md 3).
    static const Value *scriptModuleAttributes(const Value *obj)
    {
        if (!obj || obj->kind != ValueKind::Object || !obj->cls || obj->cls->kind != ValueKind::Global
            || obj->dictItems() || obj->listItems())
            return nullptr;
        const std::string_view module = obj->cls->module();
        if (module != "__torch__" && module.rfind("__torch__.", 0) != 0)
            return nullptr;
        return dictState(obj->state);
    }

    /// "Conv2d" for `torch.nn.modules.conv.Conv2d` or `__torch__...___torch_mangle_3.Conv2d`.
    static QString moduleClassText(const Value *obj)
    {
        return obj->cls && obj->cls->kind == ValueKind::Global ? qs(obj->cls->name()) : QStringLiteral("module");
    }

    /// A whole module shown as the module tree users know: parameters, buffers and submodules
    /// as children named like named_parameters() (`features/0/weight`), the `_parameters` /
    /// `_buffers` / `_modules` levels folded into each child's hidden raw path component, and
    /// every other attribute (training, hooks, in_features, ...) under one "(attributes)" row.
    void addModuleChildren(TreeNode *node, const Value *attrs, bool script, int depth)
    {
        std::vector<std::pair<std::string, const Value *>> rest;
        auto fold = [&](const char *group, Context ctx) {
            const Value *dict = attrs->get(group);
            for (std::size_t i = 0; dict && dict->kind == ValueKind::Dict && i < dict->dictSize(); ++i) {
                const Value *k = dict->dictKey(i);
                const Value *val = dict->dictValue(i);
                if (!k || !val || val->kind == ValueKind::None)
                    continue;
                if (full())
                    return markTruncated(node);
                TreeNode *child = addValue(node, qs(format::pathKey(k)), val, false, depth, ctx);
                child->rawPrefix = QLatin1String(group);
            }
        };
        if (!script) {
            fold("_parameters", Context::Parameters);
            fold("_buffers", Context::Buffers);
            fold("_modules", Context::Plain);
            for (std::size_t i = 0; i < attrs->dictSize(); ++i) {
                const std::string key = format::pathKey(attrs->dictKey(i));
                if (key != "_parameters" && key != "_buffers" && key != "_modules" && attrs->dictValue(i))
                    rest.emplace_back(key, attrs->dictValue(i));
            }
        } else {
            // TorchScript stores parameters, buffers and submodules as plain attributes; the
            // requires_grad flag is the real one for parameters (FORMAT.md 3).
            for (std::size_t i = 0; i < attrs->dictSize(); ++i) {
                const Value *k = attrs->dictKey(i);
                const Value *val = attrs->dictValue(i);
                if (!k || !val)
                    continue;
                const std::string key = format::pathKey(k);
                if (full())
                    return markTruncated(node);
                if (val->kind == ValueKind::Tensor) {
                    Context ctx = Context::Plain;
                    if (val->integer >= 0 && static_cast<std::size_t>(val->integer) < m_data.tensors.size()
                        && m_data.tensors[static_cast<std::size_t>(val->integer)].requiresGrad)
                        ctx = Context::Parameters;
                    else if (isBufferName(qs(key)))
                        ctx = Context::Buffers;
                    addValue(node, qs(key), val, false, depth, ctx);
                } else if (scriptModuleAttributes(val)) {
                    addValue(node, qs(key), val, false, depth, Context::Plain);
                } else {
                    rest.emplace_back(key, val);
                }
            }
        }
        if (rest.empty() || full())
            return;
        TreeNode *group = newChild(node, QStringLiteral("(attributes)"));
        group->kind = NodeKind::Dict;
        group->pathless = true;
        group->value = attrs;
        group->typeText = QStringLiteral("attributes");
        group->shapeText = countText(rest.size(), "attribute", "attributes");
        for (const auto &[key, val] : rest) {
            if (full())
                return markTruncated(group);
            addValue(group, qs(key), val, false, depth, Context::Plain);
        }
    }

    void addObjectChildren(TreeNode *node, const Value *obj, int depth)
    {
        if (const Value *attrs = torchModuleAttributes(obj)) {
            addModuleChildren(node, attrs, false, depth);
            return;
        }
        if (const Value *attrs = scriptModuleAttributes(obj)) {
            addModuleChildren(node, attrs, true, depth);
            return;
        }
        // As the reader's path walk: SETITEMs onto the object, else APPENDs, else the
        // attributes of the BUILD state (a dict, or (dict, slots dict)).
        if (obj->dictItems() && obj->dictItems()->kind == ValueKind::Dict) {
            addDictChildren(node, obj->dictItems(), depth);
            return;
        }
        if (obj->listItems() && obj->listItems()->kind == ValueKind::List) {
            addSequenceChildren(node, obj->listItems()->items, depth);
            return;
        }
        const Value *state = obj->state;
        std::vector<const Value *> dicts;
        if (const Value *d = dictState(state)) {
            dicts.push_back(d);
        } else if (state && state->kind == ValueKind::Tuple && state->items.size() == 2) {
            for (const Value *part : state->items)
                if (const Value *slotState = dictState(part))
                    dicts.push_back(slotState);
        }
        for (const Value *attrs : dicts) {
            for (std::size_t i = 0; i < attrs->dictSize(); ++i) {
                const Value *k = attrs->dictKey(i);
                const Value *val = attrs->dictValue(i);
                if (!k || !val)
                    continue;
                if (full())
                    return markTruncated(node);
                const QString name = qs(format::pathKey(k));
                Context ctx = Context::Plain;
                if (val->kind == ValueKind::Dict && name == QLatin1String("_parameters"))
                    ctx = Context::Parameters;
                else if (val->kind == ValueKind::Dict && name == QLatin1String("_buffers"))
                    ctx = Context::Buffers;
                addValue(node, name, val, false, depth, Context::Plain, ctx);
            }
        }
    }

    void markTruncated(TreeNode *node)
    {
        if (m_tree.m_nodeCount < m_limits.maxNodes) {
            m_tree.m_sharedCut = true; // a repeated shared expansion stopped, not the tree
            return;
        }
        if (!m_tree.m_truncated) {
            m_tree.m_truncated = true;
            addMore(node, QStringLiteral("… tree truncated (too many nodes)"));
        }
    }

    TreeNode *addValue(TreeNode *parent, const QString &name, const Value *v, bool dotJoined, int depth,
                       Context ctx, Context childCtx = Context::Plain)
    {
        TreeNode *n = newChild(parent, name);
        n->dotJoined = dotJoined;
        n->value = v;
        switch (v->kind) {
        case ValueKind::None:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("None");
            n->shapeText = QStringLiteral("None");
            break;
        case ValueKind::Bool:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("bool");
            n->shapeText = v->boolean ? QStringLiteral("True") : QStringLiteral("False");
            break;
        case ValueKind::Int:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("int");
            n->shapeText = QString::number(v->integer);
            break;
        case ValueKind::BigInt:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("int");
            n->shapeText = elideMiddle(qs(format::bigIntToDecimal(v->text)), 60);
            break;
        case ValueKind::Float:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("float");
            n->shapeText = qs(format::pyFloatRepr(v->real));
            break;
        case ValueKind::Complex:
            n->kind = NodeKind::Scalar;
            n->typeText = QStringLiteral("complex");
            n->shapeText = qs(format::pyRepr(v, 1, 4));
            break;
        case ValueKind::Str:
            n->kind = NodeKind::String;
            n->typeText = QStringLiteral("str");
            n->shapeText = elideMiddle(
                qs(format::pyStrRepr(std::string_view(v->text).substr(0, 400))), 80);
            break;
        case ValueKind::Bytes:
        case ValueKind::ByteArray:
            n->kind = NodeKind::String;
            n->typeText = v->kind == ValueKind::Bytes ? QStringLiteral("bytes")
                                                      : QStringLiteral("bytearray");
            n->shapeText = countText(v->text.size(), "byte", "bytes");
            break;
        case ValueKind::Global:
            n->kind = NodeKind::Object;
            n->typeText = QStringLiteral("global");
            n->shapeText = globalText(v);
            n->dangerous = format::classifyGlobal(v->module(), v->name()) == format::GlobalClass::Dangerous;
            break;
        case ValueKind::PersistentId:
            n->kind = NodeKind::Object;
            n->typeText = QStringLiteral("persistent id");
            n->shapeText = elideMiddle(qs(format::pyRepr(v->args, 3, 8)), 80);
            break;
        case ValueKind::Storage: {
            n->kind = NodeKind::Storage;
            n->storage = static_cast<int>(v->integer);
            if (v->integer >= 0 && static_cast<std::size_t>(v->integer) < m_data.storages.size()) {
                const auto &s = m_data.storages[static_cast<std::size_t>(v->integer)];
                n->typeText = QStringLiteral("storage ") + qs(format::dtypeName(s.dtype));
                n->shapeText = countText(s.numel, "element", "elements");
                n->bytes = s.nbytes();
            } else {
                n->typeText = QStringLiteral("storage");
            }
            break;
        }
        case ValueKind::Tensor:
            fillTensor(n, v, ctx);
            break;
        case ValueKind::Dict:
        case ValueKind::List:
        case ValueKind::Tuple:
        case ValueKind::Set:
        case ValueKind::FrozenSet:
        case ValueKind::Object: {
            if (v->kind == ValueKind::Dict) {
                n->kind = NodeKind::Dict;
                n->typeText = containerTypeText(v);
                n->shapeText = countText(v->dictSize(), "key", "keys");
            } else if (torchModuleAttributes(v) || scriptModuleAttributes(v)) {
                n->kind = NodeKind::Module;
                n->typeText = moduleClassText(v);
            } else if (v->kind == ValueKind::Object) {
                n->kind = NodeKind::Object;
                const QString cls = globalText(v->cls);
                n->typeText = cls.isEmpty() ? QStringLiteral("object") : cls;
                n->dangerous = v->cls && v->cls->kind == ValueKind::Global
                    && format::classifyGlobal(v->cls->module(), v->cls->name()) == format::GlobalClass::Dangerous;
            } else {
                n->kind = NodeKind::List;
                n->typeText = containerTypeText(v);
                n->shapeText = countText(v->items.size(), "item", "items");
            }
            if (m_ancestors.count(v)) {
                n->shapeText = QStringLiteral("(recursive reference)");
                break;
            }
            if (depth >= m_limits.maxDepth) {
                n->shapeText = QStringLiteral("(nested too deeply)");
                break;
            }
            const auto entered = m_guard.enter(v);
            if (entered == format::SharedWalkGuard::Enter::Skip) {
                // Shared through very many paths: shown once in full, here as a reference.
                const auto first = m_firstNode.find(v);
                n->shapeText = first != m_firstNode.end()
                    ? QStringLiteral("(shared: the same object as %1)").arg(elideMiddle(first->second->path(), 80))
                    : QStringLiteral("(shared)");
                m_tree.m_sharedCut = true;
                break;
            }
            if (entered == format::SharedWalkGuard::Enter::First)
                m_firstNode.emplace(v, n);
            m_ancestors.insert(v);
            if (v->kind == ValueKind::Dict)
                addDictChildren(n, v, depth + 1, childCtx);
            else
                addChildren(n, v, depth + 1);
            m_ancestors.erase(v);
            if (entered == format::SharedWalkGuard::Enter::Repeat)
                m_guard.leaveRepeat();
            if (v->kind == ValueKind::Object && n->shapeText.isEmpty()) {
                if (!n->children.empty())
                    n->shapeText = countText(n->children.size(), "attribute", "attributes");
                else if (v->args && !v->args->items.empty())
                    n->shapeText = elideMiddle(qs(format::pyRepr(v->args, 3, 8)), 80);
            }
            break;
        }
        }
        return n;
    }

    void fillTensor(TreeNode *n, const Value *v, Context ctx)
    {
        fillTensorIndex(n, v->integer, ctx);
    }

    void fillTensorIndex(TreeNode *n, std::int64_t index, Context ctx)
    {
        n->tensor = static_cast<int>(index);
        n->kind = NodeKind::Tensor;
        if (index < 0 || static_cast<std::size_t>(index) >= m_data.tensors.size()) {
            n->tensor = -1;
            n->typeText = QStringLiteral("tensor");
            n->shapeText = QStringLiteral("(unresolved)");
            return;
        }
        const format::TensorInfo &t = m_data.tensors[static_cast<std::size_t>(index)];
        m_tree.m_nodesByTensor[static_cast<std::size_t>(index)].push_back(n);
        const bool floating = format::dtypeInfo(t.dtype).isFloat
            || format::dtypeInfo(t.dtype).isComplex || format::dtypeInfo(t.dtype).isQuantized;
        if (t.isParameter || ctx == Context::Parameters)
            n->kind = NodeKind::Parameter;
        else if (ctx == Context::Buffers)
            n->kind = NodeKind::Buffer;
        else if (ctx == Context::StateDict)
            n->kind = (isBufferName(n->name) || !floating) ? NodeKind::Buffer : NodeKind::Parameter;
        QString type = qs(format::dtypeName(t.dtype));
        if (t.layout != format::Layout::Strided)
            type = qs(format::layoutName(t.layout)) + QLatin1Char(' ') + type;
        n->typeText = type;
        n->shapeText = shapeText(t.shape);
        n->elements = t.numel();
        n->bytes = t.nbytes();
        n->tensorCount = 1;
    }

    static void sumUp(TreeNode *n)
    {
        if (n->children.empty())
            return;
        std::uint64_t elements = 0, bytes = 0;
        std::uint32_t count = 0;
        for (auto &c : n->children) {
            sumUp(c.get());
            elements += c->elements;
            bytes += c->bytes;
            count += c->tensorCount;
        }
        if (!n->isTensor()) {
            n->elements = elements;
            n->bytes = bytes;
            n->tensorCount = count;
        }
        if (n->kind == NodeKind::Module)
            n->shapeText = countText(n->tensorCount, "tensor", "tensors");
    }

    CheckpointTree &m_tree;
    const format::CheckpointData &m_data;
    CheckpointTree::Limits m_limits;
    std::unordered_set<const Value *> m_ancestors;
    // Shared containers are expanded again at each path within a budget (the listing's rule,
    // smaller: a tree node costs some 200 bytes); m_firstNode names where each was shown first.
    format::SharedWalkGuard m_guard{200'000};
    std::unordered_map<const Value *, const TreeNode *> m_firstNode;
};

std::shared_ptr<const CheckpointTree> CheckpointTree::build(CheckpointPtr data, const Limits &limits)
{
    auto tree = std::make_shared<CheckpointTree>();
    if (!data)
        data = std::make_shared<format::CheckpointData>();
    tree->m_data = std::move(data);
    TreeBuilder(*tree, limits).run();
    return tree;
}

const std::vector<const TreeNode *> &CheckpointTree::nodesForTensor(int tensor) const
{
    static const std::vector<const TreeNode *> none;
    if (tensor < 0 || static_cast<std::size_t>(tensor) >= m_nodesByTensor.size())
        return none;
    return m_nodesByTensor[static_cast<std::size_t>(tensor)];
}

const TreeNode *CheckpointTree::findPath(const QString &path) const
{
    std::call_once(m_pathIndexOnce, [this] {
        std::vector<const TreeNode *> stack{m_root.get()};
        while (!stack.empty()) {
            const TreeNode *n = stack.back();
            stack.pop_back();
            if (n->kind != NodeKind::More) {
                // First occurrence wins, in tree order (children pushed in reverse).
                const QString raw = n->path();
                if (!m_pathIndex.contains(raw))
                    m_pathIndex.insert(raw, n);
            }
            for (auto it = n->children.rbegin(); it != n->children.rend(); ++it)
                stack.push_back(it->get());
        }
        stack.push_back(m_root.get());
        while (!stack.empty()) {
            const TreeNode *n = stack.back();
            stack.pop_back();
            if (n->kind != NodeKind::More) {
                const QString tp = n->treePath();
                if (!m_pathIndex.contains(tp))
                    m_pathIndex.insert(tp, n);
            }
            for (auto it = n->children.rbegin(); it != n->children.rend(); ++it)
                stack.push_back(it->get());
        }
    });
    QString p = path;
    while (p.startsWith(QLatin1Char('/')))
        p.remove(0, 1);
    while (p.endsWith(QLatin1Char('/')))
        p.chop(1);
    if (const TreeNode *n = m_pathIndex.value(p, nullptr))
        return n;
    if (p.contains(QLatin1Char('.'))) {
        // `features.0.weight`: the dotted name users know from named_parameters().
        QString dotted = p;
        dotted.replace(QLatin1Char('.'), QLatin1Char('/'));
        return m_pathIndex.value(dotted, nullptr);
    }
    return nullptr;
}

std::vector<int> tensorsBelow(const TreeNode *node)
{
    std::vector<int> out;
    if (!node)
        return out;
    std::unordered_set<int> seen;
    std::vector<const TreeNode *> stack{node};
    while (!stack.empty()) {
        const TreeNode *n = stack.back();
        stack.pop_back();
        if (n->tensor >= 0 && seen.insert(n->tensor).second)
            out.push_back(n->tensor);
        for (auto it = n->children.rbegin(); it != n->children.rend(); ++it)
            stack.push_back(it->get());
    }
    return out;
}

std::vector<DTypeShare> dtypeMix(const CheckpointTree &tree, const TreeNode *node)
{
    std::vector<DTypeShare> out;
    const auto &tensors = tree.data()->tensors;
    for (int t : tensorsBelow(node)) {
        const auto &info = tensors[static_cast<std::size_t>(t)];
        const QString name = qs(format::dtypeName(info.dtype));
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const DTypeShare &s) { return s.dtype == name; });
        if (it == out.end()) {
            out.push_back(DTypeShare{name, 0, 0, 0});
            it = out.end() - 1;
        }
        ++it->tensors;
        it->elements += info.numel();
        it->bytes += info.nbytes();
    }
    std::sort(out.begin(), out.end(),
              [](const DTypeShare &a, const DTypeShare &b) { return a.bytes > b.bytes; });
    return out;
}

} // namespace ckpt

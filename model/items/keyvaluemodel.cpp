// SPDX-License-Identifier: MIT
#include "keyvaluemodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "modelroles.h"
#include "torchlayout.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace ckpt {

using format::Value;
using format::ValueKind;

struct KeyValueModel::Node
{
    Node *parent = nullptr;
    int row = 0;
    QString key;
    const Value *value = nullptr;
    bool synthetic = false; ///< "(class)", "(args)", ...: not a path component
    bool populated = false;
    std::vector<std::unique_ptr<Node>> children;
};

namespace {

constexpr std::size_t kMaxChildren = 100'000;

bool expandable(const Value *v)
{
    if (!v)
        return false;
    switch (v->kind) {
    case ValueKind::Dict:
        return v->dictSize() > 0 || v->state;
    case ValueKind::List:
    case ValueKind::Tuple:
    case ValueKind::Set:
    case ValueKind::FrozenSet:
        return !v->items.empty();
    case ValueKind::Object:
        return v->cls || v->args || v->kwargs() || v->state || v->listItems() || v->dictItems();
    case ValueKind::PersistentId:
        return v->args != nullptr;
    default:
        return false;
    }
}

bool hasItems(const Value *v)
{
    return v && ((v->kind == ValueKind::Tuple && !v->items.empty())
                 || (v->kind == ValueKind::Dict && v->dictSize() > 0)
                 || (v->kind != ValueKind::Tuple && v->kind != ValueKind::Dict));
}

} // namespace

KeyValueModel::KeyValueModel(QObject *parent)
    : QAbstractItemModel(parent)
    , m_root(std::make_unique<Node>())
{
    m_root->populated = true;
}

KeyValueModel::~KeyValueModel() = default;

void KeyValueModel::setValue(CheckpointPtr data, const Value *value, const QString &name)
{
    beginResetModel();
    m_data = std::move(data);
    m_root = std::make_unique<Node>();
    m_root->populated = true;
    if (value) {
        if (expandable(value) && value->kind != ValueKind::PersistentId) {
            m_root->value = value;
            m_root->populated = false;
            populate(m_root.get());
        } else {
            auto n = std::make_unique<Node>();
            n->parent = m_root.get();
            n->key = name.isEmpty() ? QStringLiteral("value") : name;
            n->value = value;
            m_root->children.push_back(std::move(n));
        }
    }
    endResetModel();
}

void KeyValueModel::clear()
{
    setValue(nullptr, nullptr);
}

bool KeyValueModel::isAncestor(const Node *node, const Value *v) const
{
    for (const Node *n = node ? node->parent : nullptr; n; n = n->parent)
        if (n->value == v)
            return true;
    return false;
}

void KeyValueModel::populate(Node *node) const
{
    if (node->populated)
        return;
    node->populated = true;
    const Value *v = node->value;
    if (!v || isAncestor(node, v))
        return;
    auto add = [node](const QString &key, const Value *value, bool synthetic = false) {
        if (!value || node->children.size() >= kMaxChildren)
            return;
        auto n = std::make_unique<Node>();
        n->parent = node;
        n->row = static_cast<int>(node->children.size());
        n->key = key;
        n->value = value;
        n->synthetic = synthetic;
        node->children.push_back(std::move(n));
    };
    switch (v->kind) {
    case ValueKind::Dict:
        for (std::size_t i = 0; i < v->dictSize(); ++i)
            if (v->dictKey(i))
                add(qs(format::pathKey(v->dictKey(i))), v->dictValue(i));
        add(QStringLiteral("(attributes)"), v->state, true);
        break;
    case ValueKind::List:
    case ValueKind::Tuple:
    case ValueKind::Set:
    case ValueKind::FrozenSet:
        for (std::size_t i = 0; i < v->items.size(); ++i)
            add(QString::number(i), v->items[i]);
        break;
    case ValueKind::Object: {
        add(QStringLiteral("(class)"), v->cls, true);
        if (hasItems(v->args))
            add(QStringLiteral("(args)"), v->args, true);
        if (hasItems(v->kwargs()))
            add(QStringLiteral("(kwargs)"), v->kwargs(), true);
        const Value *state = v->state;
        if (state && state->kind == ValueKind::Dict) {
            for (std::size_t i = 0; i < state->dictSize(); ++i)
                if (state->dictKey(i))
                    add(qs(format::pathKey(state->dictKey(i))), state->dictValue(i));
        } else {
            add(QStringLiteral("(state)"), state, true);
        }
        if (v->listItems() && !v->listItems()->items.empty())
            add(QStringLiteral("(items)"), v->listItems(), true);
        if (v->dictItems() && v->dictItems()->dictSize() > 0)
            add(QStringLiteral("(entries)"), v->dictItems(), true);
        break;
    }
    case ValueKind::PersistentId:
        add(QStringLiteral("(id)"), v->args, true);
        break;
    default:
        break;
    }
}

KeyValueModel::Node *KeyValueModel::nodeOf(const QModelIndex &index) const
{
    if (!index.isValid())
        return m_root.get();
    return static_cast<Node *>(index.internalPointer());
}

QModelIndex KeyValueModel::index(int row, int column, const QModelIndex &parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount || (parent.isValid() && parent.column() != 0))
        return {};
    Node *p = nodeOf(parent);
    if (!p)
        return {};
    populate(p);
    if (static_cast<std::size_t>(row) >= p->children.size())
        return {};
    return createIndex(row, column, p->children[static_cast<std::size_t>(row)].get());
}

QModelIndex KeyValueModel::parent(const QModelIndex &child) const
{
    const Node *n = child.isValid() ? nodeOf(child) : nullptr;
    if (!n || !n->parent || n->parent == m_root.get())
        return {};
    return createIndex(n->parent->row, 0, n->parent);
}

int KeyValueModel::rowCount(const QModelIndex &parent) const
{
    if (parent.isValid() && parent.column() != 0)
        return 0;
    Node *n = nodeOf(parent);
    if (!n)
        return 0;
    populate(n);
    return static_cast<int>(n->children.size());
}

int KeyValueModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

bool KeyValueModel::hasChildren(const QModelIndex &parent) const
{
    if (parent.isValid() && parent.column() != 0)
        return false;
    return rowCount(parent) > 0;
}

QString KeyValueModel::typeText(const Value *v)
{
    if (!v)
        return {};
    switch (v->kind) {
    case ValueKind::None: return QStringLiteral("None");
    case ValueKind::Bool: return QStringLiteral("bool");
    case ValueKind::Int:
    case ValueKind::BigInt: return QStringLiteral("int");
    case ValueKind::Float: return QStringLiteral("float");
    case ValueKind::Complex: return QStringLiteral("complex");
    case ValueKind::Str: return QStringLiteral("str");
    case ValueKind::Bytes: return QStringLiteral("bytes");
    case ValueKind::ByteArray: return QStringLiteral("bytearray");
    case ValueKind::Tuple: return QStringLiteral("tuple");
    case ValueKind::List: return QStringLiteral("list");
    case ValueKind::Set: return QStringLiteral("set");
    case ValueKind::FrozenSet: return QStringLiteral("frozenset");
    case ValueKind::Dict:
        if (v->cls && v->cls->kind == ValueKind::Global)
            return qs(v->cls->name());
        return QStringLiteral("dict");
    case ValueKind::Global: return QStringLiteral("global");
    case ValueKind::Object:
        if (v->cls && v->cls->kind == ValueKind::Global)
            return qs(v->cls->module()) + QLatin1Char('.') + qs(v->cls->name());
        return QStringLiteral("object");
    case ValueKind::PersistentId: return QStringLiteral("persistent id");
    case ValueKind::Storage: return QStringLiteral("storage");
    case ValueKind::Tensor: return QStringLiteral("tensor");
    }
    return {};
}

QString KeyValueModel::valueText(const Value *v, int maxChars) const
{
    if (!v)
        return {};
    switch (v->kind) {
    case ValueKind::Tensor:
        if (m_data && v->integer >= 0 && static_cast<std::size_t>(v->integer) < m_data->tensors.size()) {
            const auto &t = m_data->tensors[static_cast<std::size_t>(v->integer)];
            QString text = qs(format::dtypeName(t.dtype)) + QLatin1Char(' ') + shapeText(t.shape);
            if (t.shape.empty()) {
                if (auto view = format::tensorView(*m_data, static_cast<int>(v->integer)).view) {
                    try {
                        text = qs(format::formatElement(format::elementAt(*view, {}), t.dtype))
                            + QStringLiteral("  (") + text + QLatin1Char(')');
                    } catch (const std::exception &) {
                    }
                }
            }
            return text;
        }
        return QStringLiteral("tensor");
    case ValueKind::Storage:
        if (m_data && v->integer >= 0 && static_cast<std::size_t>(v->integer) < m_data->storages.size()) {
            const auto &s = m_data->storages[static_cast<std::size_t>(v->integer)];
            return QStringLiteral("'%1' %2 × %3 (%4)")
                .arg(qs(s.key), groupedCount(s.numel), qs(format::dtypeName(s.dtype)),
                     humanBytes(s.nbytes()));
        }
        return QStringLiteral("storage");
    case ValueKind::Global:
        return qs(v->module()) + QLatin1Char('.') + qs(v->name());
    case ValueKind::BigInt:
        return elideMiddle(qs(format::bigIntToDecimal(v->text)), maxChars);
    case ValueKind::Bytes:
    case ValueKind::ByteArray:
        return groupedCount(v->text.size()) + QStringLiteral(" bytes: ")
            + elideMiddle(qs(format::pyRepr(v, 1, 8)), maxChars);
    default:
        break;
    }
    return elideMiddle(qs(format::pyRepr(v, 3, 16)), maxChars);
}

QVariant KeyValueModel::data(const QModelIndex &index, int role) const
{
    const Node *n = index.isValid() ? nodeOf(index) : nullptr;
    if (!n)
        return {};
    const Value *v = n->value;
    switch (role) {
    case Qt::DisplayRole:
    case SortRole:
        switch (index.column()) {
        case KeyColumn: return n->key;
        case TypeColumn: return typeText(v);
        case ValueColumn:
            if (isAncestor(n, v))
                return QStringLiteral("(recursive reference)");
            return valueText(v);
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == ValueColumn && !isAncestor(n, v))
            return valueText(v, 2000);
        return {};
    case Qt::FontRole:
        if (index.column() == KeyColumn && n->synthetic) {
            QFont f;
            f.setItalic(true);
            return f;
        }
        return {};
    case Qt::ForegroundRole:
        if (index.column() == ValueColumn && v && v->kind == ValueKind::Str)
            return QBrush(toneColor(Tone::Good));
        if (index.column() == ValueColumn && v && (v->kind == ValueKind::Int || v->kind == ValueKind::Float))
            return QBrush(toneColor(Tone::Value));
        return {};
    case TensorKeyRole:
        return v && v->kind == ValueKind::Tensor ? static_cast<int>(v->integer) : -1;
    default:
        return {};
    }
}

QVariant KeyValueModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case KeyColumn: return tr("Key");
    case TypeColumn: return tr("Type");
    case ValueColumn: return tr("Value");
    }
    return {};
}

} // namespace ckpt

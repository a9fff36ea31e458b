// SPDX-License-Identifier: MIT
#include "diffmodel.h"

#include "displayformat.h"
#include "kindicons.h"
#include "themecolors.h"

#include <QBrush>
#include <QFont>
#include <QHash>
#include <QStringList>

#include <algorithm>
#include <limits>

namespace ckpt {

namespace {

constexpr int kStatusCount = 7;

int statusIndex(DiffStatus s)
{
    return static_cast<int>(s);
}

/// How much a status says "look here" (sorting by status, and a module's colour).
int severity(DiffStatus s)
{
    switch (s) {
    case DiffStatus::Same: return 0;
    case DiffStatus::Pending: return 1;
    case DiffStatus::Changed: return 2;
    case DiffStatus::DType: return 3;
    case DiffStatus::Shape: return 4;
    case DiffStatus::Added: return 5;
    case DiffStatus::Removed: return 6;
    }
    return 0;
}

bool splittable(const QString &key)
{
    return !key.isEmpty() && !key.startsWith(QLatin1Char('.')) && !key.endsWith(QLatin1Char('.'))
        && !key.contains(QLatin1String("..")) && key.contains(QLatin1Char('.'));
}

/// Sort key of a metric: missing values sort below every number.
QVariant metricSortKey(const std::optional<double> &v)
{
    return v ? *v : -std::numeric_limits<double>::infinity();
}

void keepMax(std::optional<double> &into, const std::optional<double> &v)
{
    if (v && (!into || *v > *into))
        into = v;
}

void keepMin(std::optional<double> &into, const std::optional<double> &v)
{
    if (v && (!into || *v < *into))
        into = v;
}

bool isZeroDim(const DiffEntry &e)
{
    return e.isTensor && (!e.a || e.a->shape.empty()) && (!e.b || e.b->shape.empty());
}

} // namespace

QColor diffStatusColor(DiffStatus status)
{
    // The light palette's shades; a dark palette gets lighter ones of the same hues.
    const bool dark = isDarkPalette(appPalette());
    switch (status) {
    case DiffStatus::Same: return dark ? QColor(0xa0, 0xa0, 0xa0) : QColor(0x66, 0x66, 0x66);
    case DiffStatus::Changed: return dark ? QColor(0xf0, 0xb0, 0x50) : QColor(0x8f, 0x4c, 0x00);
    case DiffStatus::Added: return dark ? QColor(0x7e, 0xd3, 0x87) : QColor(0x18, 0x70, 0x2f);
    case DiffStatus::Removed: return dark ? QColor(0xff, 0x8a, 0x80) : QColor(0xb0, 0x25, 0x1d);
    case DiffStatus::Shape: return dark ? QColor(0xc8, 0x9b, 0xf0) : QColor(0x7a, 0x35, 0xb0);
    case DiffStatus::DType: return dark ? QColor(0x82, 0xb1, 0xff) : QColor(0x1d, 0x5c, 0xb0);
    case DiffStatus::Pending: return dark ? QColor(0x9a, 0x9a, 0x9a) : QColor(0x5e, 0x5e, 0x5e);
    }
    return {};
}

QColor diffStatusBackground(DiffStatus status)
{
    const QPalette palette = appPalette();
    if (isDarkPalette(palette))
        return mixColors(palette.color(QPalette::Base), diffStatusColor(status), 0.2);
    switch (status) {
    case DiffStatus::Same: return QColor(0xee, 0xee, 0xee);
    case DiffStatus::Changed: return QColor(0xff, 0xec, 0xc8);
    case DiffStatus::Added: return QColor(0xd6, 0xf2, 0xdd);
    case DiffStatus::Removed: return QColor(0xfa, 0xdb, 0xd8);
    case DiffStatus::Shape: return QColor(0xec, 0xdf, 0xf8);
    case DiffStatus::DType: return QColor(0xdb, 0xe7, 0xfa);
    case DiffStatus::Pending: return QColor(0xf4, 0xf4, 0xf4);
    }
    return {};
}

DiffModel::DiffModel(QObject *parent)
    : QAbstractItemModel(parent)
{
    m_nodes.push_back(std::make_unique<Node>());
}

DiffModel::~DiffModel() = default;

void DiffModel::setResult(DiffResult result)
{
    beginResetModel();
    m_result = std::move(result);
    build();
    endResetModel();
}

void DiffModel::clear()
{
    setResult({});
}

DiffModel::Node *DiffModel::newNode(Node *parent, const QString &name, const QString &rawPath)
{
    auto n = std::make_unique<Node>();
    n->parent = parent;
    n->name = name;
    n->rawPath = rawPath;
    n->treePath = parent->parent ? parent->treePath + QLatin1Char('/') + name : name;
    n->row = static_cast<int>(parent->children.size());
    parent->children.push_back(n.get());
    m_nodes.push_back(std::move(n));
    return m_nodes.back().get();
}

void DiffModel::build()
{
    m_nodes.clear();
    m_nodes.push_back(std::make_unique<Node>());
    m_entryNode.assign(m_result.entries.size(), nullptr);
    Node *root = m_nodes.front().get();
    // Children by (parent, name) while building.
    QHash<QPair<const Node *, QString>, Node *> byName;
    auto child = [&](Node *parent, const QString &name, const QString &rawPath) {
        const auto key = qMakePair(static_cast<const Node *>(parent), name);
        auto it = byName.constFind(key);
        if (it != byName.constEnd())
            return it.value();
        Node *n = newNode(parent, name, rawPath);
        byName.insert(key, n);
        return n;
    };
    const auto moduleLevel = [](const std::string &key) {
        return key == "_modules" || key == "_parameters" || key == "_buffers";
    };
    // A module pickled whole at the root: its other attributes go under "(attributes)" rows, as
    // in the checkpoint tree.
    const bool rootIsModule = std::any_of(m_result.entries.begin(), m_result.entries.end(), [&](const DiffEntry &e) {
        return e.keys.size() > 1 && moduleLevel(e.keys.front());
    });
    for (std::size_t i = 0; i < m_result.entries.size(); ++i) {
        const DiffEntry &e = m_result.entries[i];
        Node *at = root;
        QString folded; // `_modules/` ... levels of a whole module, kept in the raw path only
        for (std::size_t k = 0; k < e.keys.size(); ++k) {
            const QString key = qs(e.keys[k]);
            const bool last = k + 1 == e.keys.size();
            if (!last && moduleLevel(e.keys[k])) {
                folded += key + QLatin1Char('/');
                continue;
            }
            // Directly in a module object (the root module, or below `_modules/<name>`), a key
            // that is not a parameter or buffer is one of the module's attributes.
            const bool inModule = k == 0 ? rootIsModule : (k >= 2 && e.keys[k - 2] == "_modules" && folded.isEmpty());
            if (inModule && !e.isTensor && !(!last && moduleLevel(e.keys[k]))) {
                Node *attrs = child(at, tr("(attributes)"), at == root ? QString() : at->rawPath);
                at = attrs;
            }
            const QString base = (at == root || at->rawPath.isEmpty() ? QString() : at->rawPath + QLatin1Char('/')) + folded;
            const bool submodule = folded.endsWith(QLatin1String("_modules/"));
            folded.clear();
            // Tensor keys of state dicts carry the module hierarchy in dots.
            if (e.isTensor && splittable(key)) {
                const QStringList parts = key.split(QLatin1Char('.'));
                QString raw = base + parts.front();
                at = child(at, parts.front(), raw);
                at->module = true;
                for (qsizetype p = 1; p < parts.size(); ++p) {
                    raw += QLatin1Char('.') + parts[p];
                    at = child(at, parts[p], raw);
                    at->module = at->module || p + 1 < parts.size();
                }
            } else {
                at = child(at, key, base + key);
                at->module = at->module || submodule;
                if (static_cast<int>(k) == e.paramKey && !e.paramName.empty())
                    at->label = qs(e.paramName);
            }
        }
        if (at != root) {
            at->entry = static_cast<int>(i);
            m_entryNode[i] = at;
        }
        for (Node *n = at; n && n != root; n = n->parent)
            n->group = std::max(n->group, e.group);
    }
    // Roll-ups bottom-up: children were created after their parents.
    for (auto it = m_nodes.rbegin(); it != m_nodes.rend(); ++it)
        rollUp(it->get());
}

bool DiffModel::rollUp(Node *n)
{
    std::array<int, 7> counts{};
    std::optional<double> maxAbs, meanAbs, relL2, cosine;
    if (n->entry >= 0) {
        const DiffEntry &e = m_result.entries[static_cast<std::size_t>(n->entry)];
        counts[static_cast<std::size_t>(statusIndex(e.status))] += 1;
        maxAbs = e.maxAbsDiff;
        meanAbs = e.meanAbsDiff;
        relL2 = e.relL2;
        cosine = e.cosine;
    }
    for (const Node *c : n->children) {
        for (int s = 0; s < kStatusCount; ++s)
            counts[static_cast<std::size_t>(s)] += c->counts[static_cast<std::size_t>(s)];
        // A container of weights and optimizer state shows how much its weights moved.
        if (c->group < n->group)
            continue;
        // 0-d tensors are counters (num_batches_tracked, step): they would dominate every
        // module's largest change; they are listed with the values.
        if (c->entry >= 0 && c->children.empty() && isZeroDim(m_result.entries[static_cast<std::size_t>(c->entry)]))
            continue;
        keepMax(maxAbs, c->maxAbs);
        keepMax(meanAbs, c->meanAbs);
        keepMax(relL2, c->relL2);
        keepMin(cosine, c->cosine);
    }
    const bool changed = counts != n->counts || maxAbs != n->maxAbs || meanAbs != n->meanAbs
        || relL2 != n->relL2 || cosine != n->cosine;
    n->counts = counts;
    n->maxAbs = maxAbs;
    n->meanAbs = meanAbs;
    n->relL2 = relL2;
    n->cosine = cosine;
    return changed;
}

void DiffModel::updateEntries(const std::vector<std::pair<int, DiffEntry>> &batch)
{
    std::vector<Node *> dirty;
    for (const auto &[index, e] : batch) {
        if (index < 0 || static_cast<std::size_t>(index) >= m_result.entries.size())
            continue;
        m_result.entries[static_cast<std::size_t>(index)] = e;
        if (Node *n = m_entryNode[static_cast<std::size_t>(index)]) {
            rollUp(n);
            emit dataChanged(indexOf(n, StatusColumn), indexOf(n, CosineColumn));
            for (Node *p = n->parent; p && p->parent; p = p->parent)
                dirty.push_back(p);
        }
    }
    // Ancestors deepest first, each once.
    std::sort(dirty.begin(), dirty.end(), [](const Node *l, const Node *r) {
        return l->treePath.size() > r->treePath.size() || (l->treePath.size() == r->treePath.size() && l < r);
    });
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    for (Node *p : dirty)
        if (rollUp(p))
            emit dataChanged(indexOf(p, StatusColumn), indexOf(p, CosineColumn));
}

const DiffEntry *DiffModel::entry(const QModelIndex &index) const
{
    const Node *n = node(index);
    return n && n->entry >= 0 ? &m_result.entries[static_cast<std::size_t>(n->entry)] : nullptr;
}

QModelIndex DiffModel::indexForPath(const QString &path) const
{
    for (std::size_t i = 1; i < m_nodes.size(); ++i) {
        const Node *n = m_nodes[i].get();
        if (n->rawPath == path || n->treePath == path)
            return indexOf(n, 0);
    }
    return {};
}

QModelIndex DiffModel::indexForEntry(int entry, int column) const
{
    if (entry < 0 || static_cast<std::size_t>(entry) >= m_entryNode.size())
        return {};
    return indexOf(m_entryNode[static_cast<std::size_t>(entry)], column);
}

const DiffModel::Node *DiffModel::node(const QModelIndex &index) const
{
    if (!index.isValid() || index.model() != this)
        return nullptr;
    return static_cast<const Node *>(index.internalPointer());
}

QModelIndex DiffModel::indexOf(const Node *n, int column) const
{
    if (!n || !n->parent)
        return {};
    return createIndex(n->row, column, const_cast<Node *>(n));
}

QModelIndex DiffModel::index(int row, int column, const QModelIndex &parent) const
{
    if (column < 0 || column >= ColumnCount || row < 0)
        return {};
    const Node *p = parent.isValid() ? node(parent) : m_nodes.front().get();
    if (!p || parent.column() > 0 || static_cast<std::size_t>(row) >= p->children.size())
        return {};
    return createIndex(row, column, p->children[static_cast<std::size_t>(row)]);
}

QModelIndex DiffModel::parent(const QModelIndex &child) const
{
    const Node *n = node(child);
    if (!n || !n->parent || !n->parent->parent)
        return {};
    return indexOf(n->parent, 0);
}

int DiffModel::rowCount(const QModelIndex &parent) const
{
    if (parent.column() > 0)
        return 0;
    const Node *p = parent.isValid() ? node(parent) : m_nodes.front().get();
    return p ? static_cast<int>(p->children.size()) : 0;
}

int DiffModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

Qt::ItemFlags DiffModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (node(index)->children.empty())
        f |= Qt::ItemNeverHasChildren;
    return f;
}

DiffStatus DiffModel::rollUpStatus(const Node *n) const
{
    if (n->entry >= 0 && n->children.empty())
        return m_result.entries[static_cast<std::size_t>(n->entry)].status;
    // A module: `same` when everything below is; the one kind of difference when there is only
    // one; otherwise `changed`. Pending while anything below is still being computed and
    // nothing differs yet.
    int kinds = 0;
    DiffStatus only = DiffStatus::Same;
    for (int s = 0; s < kStatusCount; ++s) {
        const auto st = static_cast<DiffStatus>(s);
        if (st == DiffStatus::Same || st == DiffStatus::Pending || n->counts[static_cast<std::size_t>(s)] == 0)
            continue;
        ++kinds;
        only = st;
    }
    if (kinds == 1)
        return only;
    if (kinds > 1)
        return DiffStatus::Changed;
    return n->counts[static_cast<std::size_t>(statusIndex(DiffStatus::Pending))] > 0 ? DiffStatus::Pending
                                                                                      : DiffStatus::Same;
}

QString DiffModel::statusText(const Node *n, bool detailed) const
{
    if (n->entry >= 0 && n->children.empty()) {
        const DiffEntry &e = m_result.entries[static_cast<std::size_t>(n->entry)];
        // Metrics that could not be computed (bytes missing, damaged): as `ckpt-inspect diff`.
        if (e.status == DiffStatus::Pending && !e.error.empty())
            return tr("unknown");
        return qs(diffStatusName(e.status));
    }
    int total = 0;
    for (int c : n->counts)
        total += c;
    QStringList parts;
    for (DiffStatus s : {DiffStatus::Changed, DiffStatus::Shape, DiffStatus::DType, DiffStatus::Added,
                         DiffStatus::Removed, DiffStatus::Pending}) {
        const int c = n->counts[static_cast<std::size_t>(statusIndex(s))];
        if (c > 0)
            parts << QStringLiteral("%1 %2").arg(c).arg(qs(diffStatusName(s)));
    }
    if (detailed)
        return parts.isEmpty() ? tr("all %1 same").arg(total) : parts.join(QStringLiteral(", ")) + tr(" of %1").arg(total);
    if (parts.isEmpty())
        return QStringLiteral("same");
    int differing = 0;
    for (int s = 0; s < kStatusCount; ++s)
        if (static_cast<DiffStatus>(s) != DiffStatus::Same)
            differing += n->counts[static_cast<std::size_t>(s)];
    int kinds = 0;
    for (DiffStatus s : {DiffStatus::Changed, DiffStatus::Shape, DiffStatus::DType, DiffStatus::Added, DiffStatus::Removed})
        kinds += n->counts[static_cast<std::size_t>(statusIndex(s))] > 0 ? 1 : 0;
    const QString word = kinds > 1 ? tr("mixed") : qs(diffStatusName(rollUpStatus(n)));
    return QStringLiteral("%1 %2/%3").arg(word).arg(differing).arg(total);
}

QString DiffModel::sideText(const Node *n, bool b) const
{
    if (n->entry < 0)
        return {};
    const DiffEntry &e = m_result.entries[static_cast<std::size_t>(n->entry)];
    const auto &side = b ? e.b : e.a;
    if (!side)
        return QStringLiteral("—");
    if (side->tensor >= 0 || e.isTensor)
        return qs(side->dtype) + QLatin1Char(' ') + shapeText(side->shape);
    return qs(side->value);
}

QString DiffModel::toolTip(const Node *n, int column) const
{
    if (n->entry < 0 || !n->children.empty()) {
        if (column >= MaxAbsColumn)
            return tr("Module row: the largest value among the tensors below (cosine: the smallest); "
                      "below weights and optimizer state, among the weights");
        return n->rawPath + QLatin1Char('\n') + statusText(n, true);
    }
    const DiffEntry &e = m_result.entries[static_cast<std::size_t>(n->entry)];
    QString tip = qs(e.path());
    if (!e.paramName.empty())
        tip += QLatin1Char('\n') + tr("Optimizer state of %1").arg(qs(e.paramName));
    auto sideTip = [&](const std::optional<DiffSide> &s, const QString &label) -> QString {
        if (!s)
            return label + tr(": not in this file");
        QStringList keys;
        for (const auto &k : s->keys)
            keys << qs(k);
        QString t = label + QStringLiteral(": ") + keys.join(QLatin1Char('/'));
        if (s->tensor >= 0 || e.isTensor)
            t += QStringLiteral("  ") + qs(s->dtype) + QLatin1Char(' ') + shapeText(s->shape);
        else
            t += QStringLiteral(" = ") + qs(s->value);
        return t;
    };
    tip += QLatin1Char('\n') + sideTip(e.a, QStringLiteral("A")) + QLatin1Char('\n') + sideTip(e.b, QStringLiteral("B"));
    if (e.isTensor && (e.status == DiffStatus::Changed || e.status == DiffStatus::Same))
        tip += QLatin1Char('\n') + tr("%1 elements differ").arg(groupedCount(e.differing));
    if (e.nanMismatch)
        tip += QLatin1Char('\n') + tr("%1 elements are NaN on one side only (left out of the metrics)")
                                       .arg(groupedCount(e.nanMismatch));
    if (!e.error.empty())
        tip += QLatin1Char('\n') + qs(e.error);
    return tip;
}

QVariant DiffModel::data(const QModelIndex &index, int role) const
{
    const Node *n = node(index);
    if (!n)
        return {};
    const DiffEntry *e = n->entry >= 0 ? &m_result.entries[static_cast<std::size_t>(n->entry)] : nullptr;
    const bool module = !e || !n->children.empty();
    const int column = index.column();
    auto metric = [&](int col) -> std::optional<double> {
        switch (col) {
        case MaxAbsColumn: return module ? n->maxAbs : e->maxAbsDiff;
        case MeanAbsColumn: return module ? n->meanAbs : e->meanAbsDiff;
        case RelL2Column: return module ? n->relL2 : e->relL2;
        case CosineColumn: return module ? n->cosine : e->cosine;
        default: return std::nullopt;
        }
    };
    switch (role) {
    case Qt::DisplayRole:
        switch (column) {
        case NameColumn: return n->label.isEmpty() ? n->name : tr("%1 (id %2)").arg(n->label, n->name);
        case StatusColumn: return statusText(n);
        case AColumn: return sideText(n, false);
        case BColumn: return sideText(n, true);
        default: {
            const auto v = metric(column);
            return v ? numberText(*v, 4) : QString();
        }
        }
    case SortRole:
        switch (column) {
        case NameColumn: return n->name;
        case StatusColumn: {
            // Worst status first when sorting descending; more differences first among equals.
            const int differing = [&] {
                int d = 0;
                for (int s = 0; s < kStatusCount; ++s)
                    if (static_cast<DiffStatus>(s) != DiffStatus::Same)
                        d += n->counts[static_cast<std::size_t>(s)];
                return d;
            }();
            return static_cast<double>(severity(rollUpStatus(n))) * 1e9 + differing;
        }
        case AColumn: return sideText(n, false);
        case BColumn: return sideText(n, true);
        default: return metricSortKey(metric(column));
        }
    case Qt::ForegroundRole:
        if (column == StatusColumn)
            return QBrush(diffStatusColor(rollUpStatus(n)));
        if (module && column >= MaxAbsColumn)
            return QBrush(toneColor(Tone::Muted));
        return {};
    case Qt::BackgroundRole:
        if (column == StatusColumn && rollUpStatus(n) != DiffStatus::Same)
            return QBrush(diffStatusBackground(rollUpStatus(n)));
        return {};
    case Qt::FontRole:
        if ((column == StatusColumn && rollUpStatus(n) == DiffStatus::Pending) || (module && column >= MaxAbsColumn)) {
            QFont f;
            f.setItalic(true);
            return f;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (column >= MaxAbsColumn)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::DecorationRole:
        if (column != NameColumn)
            return {};
        if (module)
            return nodeIcon(n->module ? NodeKind::Module : NodeKind::Dict);
        return nodeIcon(e->isTensor ? NodeKind::Tensor : NodeKind::Scalar);
    case Qt::ToolTipRole: return toolTip(n, column);
    case PathRole: return n->rawPath;
    case TreePathRole: return n->treePath;
    case FilterRole: return n->label.isEmpty() ? n->name : n->label + QLatin1Char(' ') + n->name;
    case DiffStatusRole: return static_cast<int>(rollUpStatus(n));
    case DiffGroupRole: return static_cast<int>(n->group);
    case DiffEntryRole: return n->entry;
    case DiffersRole: {
        for (int s = 0; s < kStatusCount; ++s)
            if (static_cast<DiffStatus>(s) != DiffStatus::Same && n->counts[static_cast<std::size_t>(s)] > 0)
                return true;
        return false;
    }
    case TensorKeyRole:
        if (e && e->isTensor)
            return e->a ? e->a->tensor : (e->b ? e->b->tensor : -1);
        return -1;
    case ShapeRole:
        if (column == AColumn && e && e->a && e->isTensor)
            return QVariant::fromValue(QList<qint64>(e->a->shape.begin(), e->a->shape.end()));
        if (column == BColumn && e && e->b && e->isTensor)
            return QVariant::fromValue(QList<qint64>(e->b->shape.begin(), e->b->shape.end()));
        return {};
    default: return {};
    }
}

QVariant DiffModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case NameColumn: return tr("Name");
        case StatusColumn: return tr("Status");
        case AColumn: return tr("A");
        case BColumn: return tr("B");
        case MaxAbsColumn: return tr("max |Δ|");
        case MeanAbsColumn: return tr("mean |Δ|");
        case RelL2Column: return tr("rel L2");
        case CosineColumn: return tr("cosine");
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case StatusColumn:
            return tr("same: bit-identical values; changed; added: only in B; removed: only in A; "
                      "shape / dtype: both have it, differently");
        case AColumn: return tr("The first file: dtype and shape, or the value");
        case BColumn: return tr("The second file: dtype and shape, or the value");
        case MaxAbsColumn: return tr("Largest |B − A| over the elements (computed in double)");
        case MeanAbsColumn: return tr("Mean |B − A| over the elements");
        case RelL2Column: return tr("‖B − A‖₂ / ‖A‖₂: sort by it to find the layers that moved most");
        case CosineColumn: return tr("Cosine similarity of the flattened tensors");
        default: return {};
        }
    }
    if (role == Qt::TextAlignmentRole && section >= MaxAbsColumn)
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

} // namespace ckpt

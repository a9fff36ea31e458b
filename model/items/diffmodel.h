// SPDX-License-Identifier: MIT
#pragma once

#include "diffengine.h"
#include "modelroles.h"

#include <QAbstractItemModel>
#include <QColor>

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace ckpt {

/// Roles of the comparison models, after the shared ones (modelroles.h).
enum DiffRole {
    DiffStatusRole = RawValueRole + 32, ///< int(DiffStatus) of an entry or a module's roll-up
    DiffEntryRole,                      ///< index into DiffResult::entries, -1 for module rows
    DiffersRole,                        ///< bool: this row (or a row below it) is not `same`
    DiffGroupRole,                      ///< int(DiffGroup): model weights rank before optimizer state
};

/// Text and background colours of a DiffStatus (shared by the tree, the values table and the
/// legend of the compare panel).
QColor diffStatusColor(DiffStatus status);
QColor diffStatusBackground(DiffStatus status);

/// A comparison (DiffResult) as a tree: the aligned paths split into levels, dotted tensor keys
/// (`layer1.0.conv1.weight`) split into module nodes and a whole module's `_modules` /
/// `_parameters` / `_buffers` levels folded, as in the checkpoint tree; optimizer state ids
/// shown with their parameter's name. Columns: name,
/// status (with a roll-up on module rows), A and B (dtype and shape, or the value), and the
/// change metrics. Module rows show the largest metric below them (the smallest cosine), so
/// sorting by relative L2 change puts the modules that moved most first. Entries are updated
/// in batches while the metrics are computed. Thread affinity: the GUI thread.
class DiffModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        StatusColumn,
        AColumn,
        BColumn,
        MaxAbsColumn,
        MeanAbsColumn,
        RelL2Column,
        CosineColumn,
        ColumnCount
    };

    explicit DiffModel(QObject *parent = nullptr);
    ~DiffModel() override;

    /// Shows `result` (aligned, metrics possibly still pending) and resets the model.
    void setResult(DiffResult result);
    void clear();
    /// Replaces entries by their computed versions (index into entries, entry) and updates the
    /// rows and module roll-ups they affect.
    void updateEntries(const std::vector<std::pair<int, DiffEntry>> &batch);
    const DiffResult &result() const noexcept { return m_result; }
    DiffSummary summary() const { return m_result.summary(); }

    /// The entry of a row, nullptr for module rows.
    const DiffEntry *entry(const QModelIndex &index) const;
    /// The row of an entry path (keys joined with '/', after prefix stripping) or a tree path
    /// (every level joined with '/'); invalid when there is none.
    QModelIndex indexForPath(const QString &path) const;
    QModelIndex indexForEntry(int entry, int column = 0) const;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;

private:
    struct Node
    {
        Node *parent = nullptr;
        int row = 0;
        int entry = -1;
        bool module = false; ///< a prefix of dotted tensor keys (else a dict/object level)
        DiffGroup group = DiffGroup::Other; ///< the largest group at or below
        QString name;
        QString label;    ///< optimizer state ids: the parameter's name
        QString rawPath;  ///< keys joined with '/', dotted parts with '.'
        QString treePath; ///< every level joined with '/'
        std::vector<Node *> children;
        // Roll-up (module rows): entries below by status, and the extreme metrics below.
        std::array<int, 7> counts{};
        std::optional<double> maxAbs, meanAbs, relL2, cosine;
    };

    Node *newNode(Node *parent, const QString &name, const QString &rawPath);
    void build();
    /// Recomputes the roll-up of `n` from its children; true when it changed.
    bool rollUp(Node *n);
    DiffStatus rollUpStatus(const Node *n) const;
    /// A leaf's status; a module's roll-up ("changed 16/16", or every kind counted).
    QString statusText(const Node *n, bool detailed = false) const;
    QString sideText(const Node *n, bool b) const;
    QString toolTip(const Node *n, int column) const;
    const Node *node(const QModelIndex &index) const;
    QModelIndex indexOf(const Node *n, int column) const;

    DiffResult m_result;
    std::vector<std::unique_ptr<Node>> m_nodes; ///< m_nodes[0] is the invisible root
    std::vector<Node *> m_entryNode;            ///< per entry
};

} // namespace ckpt

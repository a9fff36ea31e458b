// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"
#include "checkpointtotals.h"
#include "trainingstate.h"

#include <QHash>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace ckpt {

/// What a tree node stands for (drives icons, columns and the details panel).
enum class NodeKind : std::uint8_t {
    File,      ///< the checkpoint itself (the single top-level row)
    Module,    ///< a prefix of dotted state-dict keys (`layer1.0.conv1`), or a whole pickled
               ///< nn.Module / TorchScript module (value set) with its attributes folded
    Parameter, ///< a tensor of a state dict or `_parameters` (weights, biases)
    Buffer,    ///< a state-dict buffer (`running_mean`, `num_batches_tracked`, `_buffers`)
    Tensor,    ///< any other tensor
    Dict,
    List,      ///< list, tuple, set
    Scalar,    ///< int, float, bool, complex, None
    String,    ///< str, bytes
    Object,    ///< an opaque object (class + state), a global
    Storage,   ///< a storage saved on its own
    More,      ///< placeholder for elided entries ("… 9,000 more values")
};
QString nodeKindName(NodeKind kind);

/// Statistics-derived flags of a tensor, set once its statistics are known.
enum TensorHealth : std::uint8_t {
    HealthKnown = 1,
    HealthNaN = 2,
    HealthInf = 4,
    HealthAllZero = 8,
    HealthBadBelow = 16, ///< (HealthRole of containers) a tensor below has NaN or ±Inf
};

/// One row of the checkpoint tree. Owned by a CheckpointTree; immutable once built.
struct TreeNode
{
    TreeNode *parent = nullptr;
    int row = 0;
    NodeKind kind = NodeKind::Scalar;
    bool dotJoined = false;  ///< joined to the parent's raw key with '.' (split state-dict key)
    bool stateDict = false;  ///< a dict of tensors shown as modules (dotted keys split)
    bool rootValue = false;  ///< the file's top-level value shown as a row: no path component
    bool dangerous = false;  ///< an object or global whose class would run code under torch.load
    bool pathless = false;   ///< a grouping row that adds no path component ("(attributes)")
    /// Raw path component hidden before `name` by module folding (`_parameters`, `_buffers`,
    /// `_modules`): the tree shows `features/0/weight`, the raw path is
    /// `_modules/features/_modules/0/_parameters/weight` (PRODUCT.md 4).
    QString rawPrefix;
    int tensor = -1;         ///< Parameter/Buffer/Tensor: index into CheckpointData::tensors
    int storage = -1;        ///< Storage: index into CheckpointData::storages
    const format::Value *value = nullptr; ///< the value shown (nullptr for Module/More/File)
    QString name;
    /// Optimizer state ids (`state/9`): the parameter's name (optim's mapping), shown beside
    /// the id; empty otherwise.
    QString alias;
    QString typeText;        ///< Kind/DType column
    QString shapeText;       ///< Shape column (a scalar's value for plain values)
    std::uint64_t elements = 0;    ///< tensor numel, or the sum below this node
    std::uint64_t bytes = 0;       ///< tensor nbytes, or the sum below this node
    std::uint32_t tensorCount = 0; ///< tensors at or below this node (each path counted)
    std::vector<std::unique_ptr<TreeNode>> children;

    bool isTensor() const noexcept
    {
        return kind == NodeKind::Parameter || kind == NodeKind::Buffer || kind == NodeKind::Tensor;
    }
    /// Path keys (PRODUCT.md 4 "Paths"); split state-dict keys are joined back with '.'.
    QStringList keys() const;
    /// Raw path: keys() joined with '/' ("model_state_dict/layer1.0.conv1.weight").
    QString path() const;
    /// Tree path: every tree level joined with '/' ("model_state_dict/layer1/0/conv1/weight").
    QString treePath() const;
};

/// The browsable tree of one checkpoint, built from its value graph: dict keys, list indices,
/// object attributes; dotted state-dict keys split into module nodes; totals per node. Building
/// touches no tensor bytes, so it may run on a worker thread. Immutable and shareable once built.
class CheckpointTree
{
public:
    struct Limits
    {
        std::size_t maxNodes = 2'000'000;     ///< the tree stops growing (with a notice) here
        std::size_t maxPlainChildren = 1000;  ///< plain values listed per container
        int maxDepth = 512;
    };

    static std::shared_ptr<const CheckpointTree> build(CheckpointPtr data, const Limits &limits);
    static std::shared_ptr<const CheckpointTree> build(CheckpointPtr data)
    {
        return build(std::move(data), Limits{});
    }

    const CheckpointPtr &data() const noexcept { return m_data; }
    const TreeNode *root() const noexcept { return m_root.get(); }
    std::size_t nodeCount() const noexcept { return m_nodeCount; }
    bool truncated() const noexcept { return m_truncated; }
    /// True when containers shared by very many paths are shown in full at their first paths
    /// only (elsewhere as "(shared: the same object as ...)" rows).
    bool sharedCut() const noexcept { return m_sharedCut; }

    /// Every node showing tensor `tensor` (tied weights and shared references appear twice).
    const std::vector<const TreeNode *> &nodesForTensor(int tensor) const;
    /// The node at `path`, raw (`a/conv1.weight`) or tree form (`a/conv1/weight`); leading and
    /// trailing '/' are ignored and "" is the file node. A dotted module name
    /// (`features.0.weight`) is tried as a tree path when nothing else matches. nullptr when
    /// nothing matches.
    const TreeNode *findPath(const QString &path) const;

    /// What the file holds, counted as torch counts it (the summary, the status bar and `ls`
    /// show these): distinct tensors and storages, the model's parameters and buffers apart.
    const CheckpointTotals &totals() const noexcept { return m_totals; }
    /// Elements of the distinct tensors (tied weights counted once); bytes of their storages.
    std::uint64_t uniqueElements() const noexcept { return m_totals.elements; }
    std::uint64_t uniqueBytes() const noexcept { return m_totals.bytes; }

private:
    friend class TreeBuilder;
    CheckpointPtr m_data;
    std::unique_ptr<TreeNode> m_root;
    std::size_t m_nodeCount = 0;
    bool m_truncated = false;
    bool m_sharedCut = false;
    std::vector<std::vector<const TreeNode *>> m_nodesByTensor;
    CheckpointTotals m_totals;

    mutable std::once_flag m_pathIndexOnce;
    mutable QHash<QString, const TreeNode *> m_pathIndex;
};

/// Totals of the tensors below a node, per dtype (the module panel's dtype mix).
struct DTypeShare
{
    QString dtype;
    std::uint32_t tensors = 0;
    std::uint64_t elements = 0;
    std::uint64_t bytes = 0;
};
std::vector<DTypeShare> dtypeMix(const CheckpointTree &tree, const TreeNode *node);
/// Distinct tensor indices at or below `node` (in tree order).
std::vector<int> tensorsBelow(const TreeNode *node);

} // namespace ckpt

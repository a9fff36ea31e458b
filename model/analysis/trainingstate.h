// SPDX-License-Identifier: MIT
#pragma once

// Training-state recognition (FORMAT.md section 5): model state dicts, optimizer state dicts,
// LR schedulers, GradScaler state and plain counters anywhere in a checkpoint's value graph,
// and the mapping of optimizer parameter ids to model parameter names (PRODUCT.md 4 `optim`).

#include "inspectreport.h"

#include <optional>
#include <string>
#include <vector>

namespace ckpt {

enum class TrainingKind : std::uint8_t { ModelStateDict, Optimizer, Scheduler, Scaler, Counter };
std::string_view trainingKindName(TrainingKind k) noexcept; ///< "model", "optimizer", ...

struct TrainingItem
{
    TrainingKind kind = TrainingKind::Counter;
    std::vector<std::string> keys;       ///< path from the root (PRODUCT.md 4 "Paths")
    const format::Value *value = nullptr;
    std::string prefix;                  ///< model: wrapper prefix shared by all keys ("module.", "_orig_mod.", "model.") or ""
    std::size_t parameters = 0;          ///< model: tensor entries that are not known buffers (deduplicated)
    std::string path() const;
};

/// Every recognised item, in walk order (depth first, dict insertion order).
std::vector<TrainingItem> findTrainingState(const format::CheckpointData &data);

/// True for state-dict keys naming buffers rather than parameters (running_mean, ...).
bool isBufferName(std::string_view key);

struct ParamMapping
{
    std::int64_t id = 0;                   ///< the int id; for state keyed by name, its position
    /// The parameter's key under `state` and in `params`: the id as text, or the parameter's
    /// name where the state is keyed by name (torch.distributed.checkpoint's get_state_dict).
    std::string key;
    int group = -1;
    std::optional<std::string> name;       ///< null when not certain
    std::optional<std::string> tensorPath; ///< the model tensor's path, when named and present
    std::string mapping;                   ///< "param_names", "order+shape", "ambiguous", "no-model"
    const format::Value *state = nullptr;  ///< the per-parameter state dict, or nullptr
};

struct OptimizerMapping
{
    const TrainingItem *optimizer = nullptr;
    const TrainingItem *model = nullptr;   ///< the state dict ids were mapped against, or nullptr
    std::vector<ParamMapping> params;      ///< in id order
};

/// Maps one optimizer's ids to names. Never returns a name that the file does not determine
/// (under the convention that each group lists its parameters in the model's order).
OptimizerMapping mapOptimizer(const format::CheckpointData &data, const TrainingItem &optimizer,
                              const std::vector<TrainingItem> &items);

/// The parameter names of each optimizer's `state/<id>` entries, as mapOptimizer() determines
/// them (ids it cannot name are absent): what the tree, `ls --json` and `diff` show beside
/// the raw path.
struct OptimizerStateNames
{
    struct Optimizer
    {
        std::vector<std::string> keys;                            ///< the optimizer's path
        std::vector<std::pair<std::string, std::string>> names;   ///< (id as a path key, name), by id
    };
    std::vector<Optimizer> optimizers;

    /// The name of the parameter whose state `keys` (a path) lies in, or nullptr; `idKey` gets
    /// the index in `keys` of the id.
    const std::string *nameOf(const std::vector<std::string> &keys, std::size_t *idKey = nullptr) const;
    const std::string *nameOf(const std::vector<std::string_view> &keys, std::size_t *idKey = nullptr) const;
    /// True when `keys` lies in one of the optimizers (state, param_groups, ...).
    bool inOptimizer(const std::vector<std::string> &keys) const;
};
OptimizerStateNames optimizerStateNames(const format::CheckpointData &data, const std::vector<TrainingItem> &items);

/// `ckpt-inspect optim --json` (PRODUCT.md 4).
Json optimReport(const format::CheckpointData &data);
/// The text table (ID, GROUP, NAME, SHAPE, STEP, MAPPING) of an optimReport.
std::string optimTable(const Json &report);

} // namespace ckpt

// SPDX-License-Identifier: MIT
#pragma once

// What the GUI shows of a training checkpoint (issue 4): the recognised items of
// trainingstate.h turned into Qt-side values with tree paths, so that panels and models need
// neither the value graph nor trainingstate.h. Built from the value graph only: no tensor bytes
// are read.

#include "modeltypes.h"

#include <QString>
#include <QStringList>

#include <memory>
#include <optional>
#include <vector>

namespace ckpt {

/// One entry of a parameter's optimizer state (`step`, `exp_avg`, `momentum_buffer`, ...).
struct OptimizerStateEntry
{
    QString key;
    QString path;          ///< raw path of the value (optimizer/state/<id>/<key>)
    int tensor = -1;       ///< index into CheckpointData::tensors, or -1 for plain values
    QString shapeText;     ///< tensors: "[4, 3]"
    QString dtype;         ///< tensors: "float32"
    QString text;          ///< plain values: Python repr ("None", "2")
    std::optional<double> number; ///< plain numeric values
};

struct OptimizerParamInfo
{
    qint64 id = 0;
    int group = -1;
    QString name;          ///< null when the mapping is not certain (never guessed)
    QString tensorPath;    ///< the model tensor's raw path, when named and present
    QString mapping;       ///< "param_names", "order+shape", "ambiguous", "no-model"
    QString statePath;     ///< optimizer/state/<id>, empty when the parameter has no state
    QString shapeText;     ///< shape of its state tensors (or of the model tensor)
    std::vector<std::int64_t> shape;
    std::vector<OptimizerStateEntry> state;
    const OptimizerStateEntry *entry(const QString &key) const;
};

struct OptimizerGroupInfo
{
    int index = 0;
    QString path;          ///< optimizer/param_groups/<index>
    int paramCount = 0;
    QStringList keys;      ///< hyper-parameters in stored order (params, param_names left out)
    QStringList texts;     ///< their Python repr
    std::vector<std::optional<double>> numbers; ///< numeric values, for sorting and summaries
};

struct OptimizerInfo
{
    QString path;          ///< raw path of the optimizer state dict
    QString modelPath;     ///< the state dict its ids were mapped against, or empty
    QString typeHint;      ///< "Adam or AdamW", "SGD", ... (from the stored keys), or empty
    std::vector<OptimizerGroupInfo> groups;
    std::vector<OptimizerParamInfo> params; ///< in id order
    QStringList stateKeys; ///< tensor state keys in first-seen order (`step` left out)
    int namedCount = 0;    ///< params with a certain name
    /// Distinct tensors whose norm/mean the panel shows (state tensors, `step` tensors).
    std::vector<int> statTensors() const;
};

/// One line of the training summary: a name, its value, and the tree path it links to.
struct TrainingFact
{
    QString name;
    QString value;         ///< display text; empty while a 0-d tensor's value is not read yet
    QString path;          ///< raw path of the value in the tree
    int tensor = -1;       ///< a 0-d tensor whose value is to be read in the background
    QString detail;        ///< tooltip
};

struct TrainingSection
{
    QString title;         ///< "Progress", "Optimizer optimizer_state_dict", "Arguments args", ...
    QString path;          ///< raw path the section itself links to (may be empty)
    QString hint;          ///< type hint shown next to the title ("StepLR", "argparse.Namespace")
    std::vector<TrainingFact> facts;
};

struct TrainingOverview
{
    CheckpointPtr data;
    std::vector<OptimizerInfo> optimizers;
    std::vector<TrainingSection> sections; ///< progress, optimizers' lr, schedulers, scalers, arguments
    bool empty() const { return optimizers.empty() && sections.empty(); }
    /// The optimizer stored at `path` (raw), or nullptr.
    const OptimizerInfo *optimizerAt(const QString &path) const;
};

/// Recognises the training state of a checkpoint (trainingstate.h) and maps every optimizer.
/// Touches no tensor bytes; safe on any thread.
std::shared_ptr<const TrainingOverview> analyzeTraining(CheckpointPtr data);

/// "Adam or AdamW", "SGD", "RMSprop", ... from an optimizer's group keys; empty when unsure.
QString optimizerTypeHint(const QStringList &groupKeys, const QStringList &stateKeys);
/// "StepLR", "OneCycleLR", "ReduceLROnPlateau", ... from a scheduler state dict's keys.
QString schedulerTypeHint(const QStringList &keys);

} // namespace ckpt

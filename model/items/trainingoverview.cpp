// SPDX-License-Identifier: MIT
#include "trainingoverview.h"

#include "displayformat.h"
#include "trainingstate.h"
#include "torchlayout.h"

#include <QHash>
#include <QObject>

#include <algorithm>
#include <functional>
#include <set>

namespace ckpt {

using format::Value;
using format::ValueKind;

namespace {

QString joinPath(const QString &a, const QString &b)
{
    return a.isEmpty() ? b : a + QLatin1Char('/') + b;
}

QString itemPath(const TrainingItem &item)
{
    return qs(item.path());
}

const format::TensorInfo *tensorOf(const format::CheckpointData &data, const Value *v)
{
    if (!v || v->kind != ValueKind::Tensor || v->integer < 0
        || static_cast<std::size_t>(v->integer) >= data.tensors.size())
        return nullptr;
    return &data.tensors[static_cast<std::size_t>(v->integer)];
}

/// A fact for a plain value or a tensor (0-d tensors are read later, in the background).
TrainingFact fact(const format::CheckpointData &data, const QString &name, const Value *v, const QString &path)
{
    TrainingFact f;
    f.name = name;
    f.path = path;
    if (const format::TensorInfo *t = tensorOf(data, v)) {
        if (t->shape.empty() && t->storage >= 0) {
            f.tensor = static_cast<int>(v->integer);
            f.detail = QObject::tr("0-d %1 tensor").arg(qs(format::dtypeName(t->dtype)));
        } else {
            f.value = QStringLiteral("tensor %1 %2").arg(qs(format::dtypeName(t->dtype)), shapeText(t->shape));
        }
        return f;
    }
    f.value = elideMiddle(qs(format::pyRepr(v, 3, 16)), 200);
    return f;
}

bool isPlainValue(const Value *v)
{
    switch (v->kind) {
    case ValueKind::None:
    case ValueKind::Bool:
    case ValueKind::Int:
    case ValueKind::BigInt:
    case ValueKind::Float:
    case ValueKind::Complex:
    case ValueKind::Str:
        return true;
    default:
        return false;
    }
}

/// Entries of a dict or of an object's attribute dict (argparse.Namespace, dataclasses).
const Value *attributeDict(const Value *v)
{
    if (!v)
        return nullptr;
    if (v->kind == ValueKind::Dict)
        return v;
    if (v->kind == ValueKind::Object) {
        if (v->dictItems() && v->dictItems()->kind == ValueKind::Dict)
            return v->dictItems();
        if (v->state && v->state->kind == ValueKind::Dict)
            return v->state;
    }
    return nullptr;
}

QString classText(const Value *v)
{
    const Value *cls = v ? v->cls : nullptr;
    if (!cls || cls->kind != ValueKind::Global)
        return v && v->kind == ValueKind::Dict ? QStringLiteral("dict") : QString();
    return qs(cls->module()) + QLatin1Char('.') + qs(cls->name());
}

/// Plain entries of an argument container, nested dicts flattened with dotted names.
void addArguments(const format::CheckpointData &data, TrainingSection &section, const Value *dict,
                  const QString &prefix, const QString &path, int depth, std::set<const Value *> &seen)
{
    if (!dict || depth > 4 || !seen.insert(dict).second)
        return;
    for (std::size_t i = 0; i < dict->dictSize() && section.facts.size() < 2000; ++i) {
        const Value *k = dict->dictKey(i);
        const Value *v = dict->dictValue(i);
        if (!k || !v)
            continue;
        const QString key = qs(format::pathKey(k));
        const QString name = prefix.isEmpty() ? key : prefix + QLatin1Char('.') + key;
        const QString p = joinPath(path, key);
        if (const Value *inner = attributeDict(v); inner && !inner->items.empty() && !tensorOf(data, v)) {
            addArguments(data, section, inner, name, p, depth + 1, seen);
            continue;
        }
        section.facts.push_back(fact(data, name, v, p));
    }
}

std::optional<double> numberOf(const Value *v)
{
    double d = 0;
    if (v && v->kind != ValueKind::Bool && v->toDouble(d))
        return d;
    return std::nullopt;
}

QStringList dictKeys(const Value *dict)
{
    QStringList out;
    for (std::size_t i = 0; dict && i < dict->dictSize(); ++i)
        out << qs(format::pathKey(dict->dictKey(i)));
    return out;
}

OptimizerInfo optimizerInfo(const format::CheckpointData &data, const OptimizerMapping &m)
{
    OptimizerInfo info;
    info.path = itemPath(*m.optimizer);
    info.modelPath = m.model ? itemPath(*m.model) : QString();
    const Value *groups = m.optimizer->value->get("param_groups");
    QStringList groupKeys;
    for (std::size_t g = 0; groups && g < groups->items.size(); ++g) {
        const Value *group = groups->items[g];
        OptimizerGroupInfo gi;
        gi.index = static_cast<int>(g);
        gi.path = info.path + QStringLiteral("/param_groups/") + QString::number(g);
        if (const Value *params = group->get("params"))
            gi.paramCount = static_cast<int>(params->items.size());
        for (std::size_t i = 0; i < group->dictSize(); ++i) {
            const QString key = qs(format::pathKey(group->dictKey(i)));
            if (key == QLatin1String("params") || key == QLatin1String("param_names"))
                continue;
            const Value *v = group->dictValue(i);
            gi.keys << key;
            gi.texts << elideMiddle(qs(format::pyRepr(v, 3, 16)), 120);
            gi.numbers.push_back(numberOf(v));
            if (!groupKeys.contains(key))
                groupKeys << key;
        }
        info.groups.push_back(std::move(gi));
    }
    QHash<QString, int> pathIndex;
    for (const ParamMapping &pm : m.params) {
        OptimizerParamInfo p;
        p.id = pm.id;
        p.group = pm.group;
        if (pm.name)
            p.name = qs(*pm.name);
        if (pm.tensorPath)
            p.tensorPath = qs(*pm.tensorPath);
        p.mapping = qs(pm.mapping);
        info.namedCount += pm.name ? 1 : 0;
        if (pm.state && pm.state->kind == ValueKind::Dict) {
            p.statePath = info.path + QStringLiteral("/state/") + QString::fromStdString(pm.key);
            for (std::size_t i = 0; i < pm.state->dictSize(); ++i) {
                OptimizerStateEntry e;
                e.key = qs(format::pathKey(pm.state->dictKey(i)));
                e.path = joinPath(p.statePath, e.key);
                const Value *v = pm.state->dictValue(i);
                if (const format::TensorInfo *t = tensorOf(data, v)) {
                    e.tensor = static_cast<int>(v->integer);
                    e.shapeText = shapeText(t->shape);
                    e.dtype = qs(format::dtypeName(t->dtype));
                    if (p.shape.empty() && !t->shape.empty()) {
                        p.shape = t->shape;
                        p.shapeText = e.shapeText;
                    }
                    if (e.key != QLatin1String("step") && !info.stateKeys.contains(e.key))
                        info.stateKeys << e.key;
                } else {
                    e.text = qs(format::pyRepr(v, 2, 8));
                    e.number = numberOf(v);
                }
                p.state.push_back(std::move(e));
            }
        }
        if (p.shapeText.isEmpty() && pm.tensorPath) {
            // No state yet (no gradient reached it): the model parameter's shape.
            if (pathIndex.isEmpty())
                for (const format::TensorPath &tp : data.paths)
                    if (tp.tensor >= 0)
                        pathIndex.insert(qs(tp.path()), tp.tensor);
            const int t = pathIndex.value(p.tensorPath, -1);
            if (t >= 0) {
                p.shape = data.tensors[static_cast<std::size_t>(t)].shape;
                p.shapeText = shapeText(p.shape);
            }
        }
        info.params.push_back(std::move(p));
    }
    QStringList stateKeys;
    for (const auto &p : info.params)
        for (const auto &e : p.state)
            if (!stateKeys.contains(e.key))
                stateKeys << e.key;
    info.typeHint = optimizerTypeHint(groupKeys, stateKeys);
    return info;
}

/// What kind of random-number-generator state `v` is (FORMAT.md 5.3), or empty: the torch CPU
/// generator (`torch.get_rng_state()`: a uint8 tensor of 5,056 bytes), CUDA generators (uint8
/// tensors of 16 bytes, or a list of them, one per device), NumPy's legacy RandomState
/// (`('MT19937', keys, pos, has_gauss, cached)`), a NumPy Generator's bit-generator state
/// (`{'bit_generator': 'PCG64', 'state': ...}`) and Python's `random.getstate()`
/// (`(3, <625 ints>, None)`). Recognised by structure, whatever the key is called.
QString rngKind(const format::CheckpointData &data, const Value *v, const QString &key)
{
    if (!v)
        return {};
    auto isGeneratorTensor = [&](const Value *t, std::int64_t bytes) {
        const format::TensorInfo *info = tensorOf(data, t);
        return info && info->dtype == format::DType::UInt8 && info->shape.size() == 1 && info->shape[0] == bytes;
    };
    const bool cudaKey = key.contains(QStringLiteral("cuda"), Qt::CaseInsensitive);
    if (isGeneratorTensor(v, 5056))
        return QObject::tr("torch CPU generator (Mersenne Twister, 5,056-byte state)");
    if (cudaKey && isGeneratorTensor(v, 16))
        return QObject::tr("torch CUDA generator (seed and offset)");
    if (v->kind == ValueKind::List && cudaKey && !v->items.empty()
        && std::all_of(v->items.begin(), v->items.end(), [&](const Value *t) { return isGeneratorTensor(t, 16); }))
        return QObject::tr("torch CUDA generators, %n device(s)", nullptr, static_cast<int>(v->items.size()));
    if (v->kind == ValueKind::Tuple && v->items.size() == 5 && v->items[0] && v->items[0]->kind == ValueKind::Str
        && v->items[0]->text == "MT19937")
        return QObject::tr("NumPy RandomState (MT19937)");
    if (v->kind == ValueKind::Tuple && v->items.size() == 3 && v->items[0] && v->items[0]->kind == ValueKind::Int
        && v->items[1] && v->items[1]->kind == ValueKind::Tuple && v->items[1]->items.size() == 625)
        return QObject::tr("Python random (Mersenne Twister, version %1)").arg(v->items[0]->integer);
    if (v->kind == ValueKind::Dict) {
        for (std::size_t i = 0; i < v->dictSize(); ++i) {
            const Value *k = v->dictKey(i);
            const Value *b = v->dictValue(i);
            if (k && k->kind == ValueKind::Str && k->text == "bit_generator" && b && b->kind == ValueKind::Str)
                return QObject::tr("NumPy Generator (%1)").arg(qs(b->text));
        }
    }
    return {};
}

// Calls fn(key, value) for each entry of `dict` whose key is a str, in stored order.
template <class Fn>
void forEachStrEntry(const Value *dict, Fn &&fn)
{
    for (std::size_t i = 0; i < dict->dictSize(); ++i) {
        const Value *k = dict->dictKey(i);
        const Value *v = dict->dictValue(i);
        if (k && v && k->kind == ValueKind::Str)
            fn(k->text, v);
    }
}

/// RNG states in the top-level dict and in dicts up to two levels below it (`rng_states`,
/// Lightning callbacks' state), in stored order.
void findRngStates(const format::CheckpointData &data, const Value *dict, const QString &at, int depth,
                   TrainingSection &section)
{
    if (!dict || dict->kind != ValueKind::Dict || depth > 2)
        return;
    forEachStrEntry(dict, [&](std::string_view text, const Value *v) {
        const QString key = qs(text);
        const QString p = joinPath(at, key);
        const QString kind = rngKind(data, v, key);
        if (!kind.isEmpty())
            section.facts.push_back({key, kind, p, -1, QObject::tr("Random number generator state at %1").arg(p)});
        else if (v->kind == ValueKind::Dict)
            findRngStates(data, v, p, depth + 1, section);
    });
}

} // namespace

const OptimizerStateEntry *OptimizerParamInfo::entry(const QString &key) const
{
    for (const auto &e : state)
        if (e.key == key)
            return &e;
    return nullptr;
}

std::vector<int> OptimizerInfo::statTensors() const
{
    std::vector<int> out;
    std::set<int> seen;
    for (const auto &p : params)
        for (const auto &e : p.state)
            if (e.tensor >= 0 && seen.insert(e.tensor).second)
                out.push_back(e.tensor);
    return out;
}

const OptimizerInfo *TrainingOverview::optimizerAt(const QString &path) const
{
    for (const auto &o : optimizers)
        if (o.path == path)
            return &o;
    return nullptr;
}

QString optimizerTypeHint(const QStringList &g, const QStringList &s)
{
    auto has = [&](const char *k) { return g.contains(QLatin1String(k)); };
    auto state = [&](const char *k) { return s.contains(QLatin1String(k)); };
    if (has("max_iter") && has("history_size"))
        return QStringLiteral("LBFGS");
    if (has("momentum_decay"))
        return QStringLiteral("NAdam");
    if (has("lambd") && has("t0"))
        return QStringLiteral("ASGD");
    if (has("etas") && has("step_sizes"))
        return QStringLiteral("Rprop");
    if (has("lr_decay") && has("initial_accumulator_value"))
        return QStringLiteral("Adagrad");
    if (has("alpha") && has("centered"))
        return QStringLiteral("RMSprop");
    if (has("rho") && !has("betas"))
        return QStringLiteral("Adadelta");
    if (has("betas") && has("amsgrad"))
        return QStringLiteral("Adam or AdamW");
    if (has("betas") && state("exp_inf"))
        return QStringLiteral("Adamax");
    if (has("momentum") && has("dampening") && has("nesterov"))
        return QStringLiteral("SGD");
    if (has("betas"))
        return QStringLiteral("Adam family");
    return {};
}

QString schedulerTypeHint(const QStringList &k)
{
    auto has = [&](const char *key) { return k.contains(QLatin1String(key)); };
    if (has("_schedulers") && has("_milestones"))
        return QStringLiteral("SequentialLR");
    if (has("_schedulers"))
        return QStringLiteral("ChainedScheduler");
    if (has("total_steps") && (has("_schedule_phases") || has("anneal_func") || has("_anneal_func_type")))
        return QStringLiteral("OneCycleLR");
    if (has("num_bad_epochs") && has("patience"))
        return QStringLiteral("ReduceLROnPlateau");
    if (has("max_lrs") && has("total_size"))
        return QStringLiteral("CyclicLR");
    if (has("T_0") && has("T_mult"))
        return QStringLiteral("CosineAnnealingWarmRestarts");
    if (has("T_max") && has("eta_min"))
        return QStringLiteral("CosineAnnealingLR");
    if (has("milestones") && has("gamma"))
        return QStringLiteral("MultiStepLR");
    if (has("step_size") && has("gamma"))
        return QStringLiteral("StepLR");
    if (has("start_factor") && has("end_factor"))
        return QStringLiteral("LinearLR");
    if (has("power") && has("total_iters"))
        return QStringLiteral("PolynomialLR");
    if (has("factor") && has("total_iters"))
        return QStringLiteral("ConstantLR");
    if (has("lr_lambdas"))
        return has("_last_lr") ? QStringLiteral("LambdaLR or MultiplicativeLR") : QStringLiteral("LambdaLR");
    if (has("gamma"))
        return QStringLiteral("ExponentialLR");
    return {};
}

std::shared_ptr<const TrainingOverview> analyzeTraining(CheckpointPtr data)
{
    auto out = std::make_shared<TrainingOverview>();
    out->data = data;
    if (!data || !data->root)
        return out;
    const format::CheckpointData &cp = *data;
    const std::vector<TrainingItem> items = findTrainingState(cp);

    TrainingSection progress;
    progress.title = QObject::tr("Progress");
    std::vector<TrainingSection> optimizers, schedulers, scalers, arguments;
    for (const TrainingItem &item : items) {
        const QString path = itemPath(item);
        switch (item.kind) {
        case TrainingKind::Counter:
            progress.facts.push_back(fact(cp, path, item.value, path));
            break;
        case TrainingKind::Optimizer: {
            out->optimizers.push_back(optimizerInfo(cp, mapOptimizer(cp, item, items)));
            const OptimizerInfo &o = out->optimizers.back();
            TrainingSection s;
            s.title = QObject::tr("Optimizer %1").arg(path);
            s.path = path;
            s.hint = o.typeHint;
            TrainingFact params;
            params.name = QObject::tr("parameters");
            params.path = path;
            params.value = QObject::tr("%1 in %2, %3 named")
                               .arg(o.params.size())
                               .arg(countNoun(o.groups.size(), "group", "groups"))
                               .arg(o.namedCount);
            params.detail = o.modelPath.isEmpty() ? QObject::tr("No model state dict to map the ids to")
                                                  : QObject::tr("Ids mapped against %1").arg(o.modelPath);
            s.facts.push_back(params);
            for (const OptimizerGroupInfo &g : o.groups) {
                for (const char *key : {"lr", "initial_lr"}) {
                    const qsizetype at = g.keys.indexOf(QLatin1String(key));
                    if (at < 0)
                        continue;
                    TrainingFact f;
                    f.name = QObject::tr("%1 (group %2)").arg(QLatin1String(key)).arg(g.index);
                    f.value = g.texts[at];
                    f.path = g.path + QLatin1Char('/') + QLatin1String(key);
                    s.facts.push_back(f);
                }
            }
            optimizers.push_back(std::move(s));
            break;
        }
        case TrainingKind::Scheduler: {
            TrainingSection s;
            s.title = QObject::tr("Scheduler %1").arg(path);
            s.path = path;
            const QStringList keys = dictKeys(item.value);
            s.hint = schedulerTypeHint(keys);
            // The values users look for first, then every other plain entry.
            QStringList order{QStringLiteral("_last_lr"), QStringLiteral("last_lr"), QStringLiteral("last_epoch"),
                              QStringLiteral("base_lrs"), QStringLiteral("_step_count")};
            for (const QString &k : keys)
                if (!order.contains(k))
                    order << k;
            for (const QString &k : order) {
                const Value *v = item.value->get(k.toStdString());
                if (!v || !(isPlainValue(v) || v->kind == ValueKind::List || v->kind == ValueKind::Tuple
                            || v->kind == ValueKind::Tensor))
                    continue;
                s.facts.push_back(fact(cp, k, v, path + QLatin1Char('/') + k));
            }
            schedulers.push_back(std::move(s));
            break;
        }
        case TrainingKind::Scaler: {
            TrainingSection s;
            s.title = QObject::tr("Grad scaler %1").arg(path);
            s.path = path;
            s.hint = QStringLiteral("GradScaler");
            for (const QString &k : dictKeys(item.value)) {
                const Value *v = item.value->get(k.toStdString());
                s.facts.push_back(fact(cp, k, v, path + QLatin1Char('/') + k));
            }
            scalers.push_back(std::move(s));
            break;
        }
        case TrainingKind::ModelStateDict:
            break;
        }
    }

    // Arguments and hyper-parameters at the top (or one level down, as in Lightning files).
    static const std::set<std::string, std::less<>> argKeys{"args", "training_args", "hparams", "hyper_parameters", "config", "cfg",
                                               "opt", "opts", "options", "hyperparameters", "params"};
    std::set<const Value *> seen;
    std::function<void(const Value *, const QString &, int)> findArgs = [&](const Value *dict, const QString &at,
                                                                             int depth) {
        if (!dict || dict->kind != ValueKind::Dict || depth > 1)
            return;
        forEachStrEntry(dict, [&](std::string_view key, const Value *v) {
            const QString p = joinPath(at, qs(key));
            if (argKeys.count(key)) {
                if (const Value *attrs = attributeDict(v); attrs && !attrs->items.empty()) {
                    TrainingSection s;
                    s.title = QObject::tr("Arguments %1").arg(p);
                    s.path = p;
                    s.hint = classText(v);
                    addArguments(cp, s, attrs, QString(), p, 0, seen);
                    if (!s.facts.empty())
                        arguments.push_back(std::move(s));
                }
            } else if (key == "scaler" && v->kind == ValueKind::Dict && v->dictSize() == 0) {
                TrainingSection s;
                s.title = QObject::tr("Grad scaler %1").arg(p);
                s.path = p;
                s.hint = QStringLiteral("GradScaler");
                s.facts.push_back({QObject::tr("state"), QObject::tr("disabled (empty state dict)"), p, -1,
                                   QObject::tr("A disabled GradScaler (e.g. on CPU) saves {}")});
                scalers.push_back(std::move(s));
            } else if (key == "pytorch-lightning_version" && v->kind == ValueKind::Str) {
                progress.facts.push_back(fact(cp, QStringLiteral("pytorch-lightning_version"), v, p));
            } else if (v->kind == ValueKind::Dict) {
                findArgs(v, p, depth + 1);
            }
        });
    };
    findArgs(cp.root, QString(), 0);

    TrainingSection rng;
    rng.title = QObject::tr("Random number generators");
    findRngStates(cp, cp.root, QString(), 0, rng);

    if (!progress.facts.empty())
        out->sections.push_back(std::move(progress));
    for (auto *list : {&optimizers, &schedulers, &scalers, &arguments})
        for (auto &s : *list)
            out->sections.push_back(std::move(s));
    if (!rng.facts.empty())
        out->sections.push_back(std::move(rng));
    return out;
}

} // namespace ckpt

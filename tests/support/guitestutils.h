// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the GUI tests: fixture paths, torch's expected values, model walks.

#include <nlohmann/json.hpp>

#include <QAbstractItemModel>
#include <QDir>
#include <QString>
#include <QStringList>

#include <fstream>
#include <functional>

namespace ckpt::test {

inline QString fixturePath(const QString &name)
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/") + name;
}

inline nlohmann::json expectedJson(const QString &name)
{
    std::ifstream in(QString(QStringLiteral(CKPT_FIXTURES_DIR "/expected/") + name
                             + QStringLiteral(".json"))
                         .toStdString());
    if (!in)
        return nlohmann::json();
    return nlohmann::json::parse(in, nullptr, false);
}

/// Fixture files that have an expected-values JSON (single files, not directories).
inline QStringList fixturesWithExpected()
{
    QStringList out;
    const QDir dir(QStringLiteral(CKPT_FIXTURES_DIR "/expected"));
    for (const QString &f : dir.entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
        const QString name = f.chopped(5);
        if (QFileInfo(fixturePath(name)).isFile())
            out << name;
    }
    return out;
}

/// Visits every index (column 0) of `model` depth-first.
inline void forEachIndex(const QAbstractItemModel *model,
                         const std::function<void(const QModelIndex &)> &visit,
                         const QModelIndex &parent = {})
{
    for (int r = 0; r < model->rowCount(parent); ++r) {
        const QModelIndex idx = model->index(r, 0, parent);
        visit(idx);
        forEachIndex(model, visit, idx);
    }
}

/// Indented text of a model's display column 0..columns-1 (golden-style dumps for messages).
inline QString dumpModel(const QAbstractItemModel *model, int columns = 1, const QModelIndex &parent = {},
                         int depth = 0)
{
    QString out;
    for (int r = 0; r < model->rowCount(parent); ++r) {
        QStringList cells;
        for (int c = 0; c < columns; ++c)
            cells << model->index(r, c, parent).data().toString();
        out += QString(depth * 2, QLatin1Char(' ')) + cells.join(QStringLiteral(" | ")) + QLatin1Char('\n');
        out += dumpModel(model, columns, model->index(r, 0, parent), depth + 1);
    }
    return out;
}

inline QString qstr(const nlohmann::json &j)
{
    return QString::fromStdString(j.get<std::string>());
}

} // namespace ckpt::test

"""A whole `.planning/` folder (or any set of GSD plan files) as one plan document."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    RequirementSpec,
    SubFeatureSpec,
)
from planning.importers.gsd.names import (
    FRONT_MATTER_SOURCE,
    PLAN_REF,
    canonical_plan_id,
    is_summary_name,
    looks_like_plan,
    plan_key,
    slug,
    sortable,
    title_from_slug,
)
from planning.importers.gsd.plan_file import ParsedPlan, parse_plan_file
from planning.importers.gsd.roadmap import RoadmapPhase, parse_requirements, parse_roadmap

DEFAULT_PHASE = "01"
DONE = "done"


def parse_planning_folder(files: Mapping[str, str], *, source: str = "") -> PlanDocument:
    """Parse GSD files given as {relative posix path: text}: a `.planning/` tree with
    `phases/NN-name/` folders, plans lying flat beside ROADMAP.md, a folder of plans, or
    a single plan file, each named `*-PLAN.md` or shaped like a plan.

    Raises PlanImportError naming the file and line of the first problem.
    """
    plans = {p: t for p, t in files.items() if looks_like_plan(PurePosixPath(p).name, t)}
    if not plans:
        raise PlanImportError(
            "no plan files found: expected NN-MM-PLAN.md files (in phases/NN-name/ or "
            "beside ROADMAP.md) or Markdown files with <task> elements",
            origin=Origin(source or "."),
        )
    roadmap = _find(files, "ROADMAP.md")
    phases = parse_roadmap(roadmap[1], file=roadmap[0]) if roadmap else {}
    roadmap_file = roadmap[0] if roadmap else "ROADMAP.md"
    requirements_file = _find(files, "REQUIREMENTS.md")
    requirements = (
        parse_requirements(requirements_file[1], file=requirements_file[0])
        if requirements_file
        else []
    )
    summaries = {
        plan_key(*found)
        for p in files
        if is_summary_name(name := PurePosixPath(p).name) and (found := canonical_plan_id(name))
    }
    document = PlanDocument(requirements=requirements, source=source)
    parsed = _parse_plans(plans, document)
    features: dict[str, FeatureSpec] = {}
    for plan in parsed:
        sub = plan.sub
        if sub.feature not in features:
            phase = phases.get(sub.feature)
            features[sub.feature] = FeatureSpec(
                key=sub.feature,
                name=(phase.name if phase else "")
                or title_from_slug(plan.phase_slug)
                or f"Phase {sub.feature}",
                description=phase.goal if phase else "",
                origin=sub.origin,
            )
        phase = phases.get(sub.feature)
        listed = phase.plans.get(sub.key) if phase else None
        if sub.key in summaries or (phase and phase.done) or (listed and listed.done):
            for task in plan.tasks:
                task.status = DONE
        document.sub_features.append(sub)
        document.tasks.extend(plan.tasks)
    _add_roadmap_state(document, features, phases, roadmap_file)
    document.features = sorted(features.values(), key=lambda f: sortable(f.key))
    for position, feature in enumerate(document.features):
        feature.position = position
    _resolve_plan_dependencies(document)
    _link_requirements(document)
    document.validate()
    return document


def _parse_plans(plans: Mapping[str, str], document: PlanDocument) -> list[ParsedPlan]:
    used: dict[str, set[int]] = {}

    def next_plan(phase: str) -> int:
        taken = used.setdefault(phase, set())
        return max(taken, default=0) + 1

    parsed = []
    # Numbered files first, so a plan without a number takes one no file claims.
    ordered = sorted(plans, key=lambda p: (canonical_plan_id(PurePosixPath(p).name) is None, p))
    for path in ordered:
        plan = parse_plan_file(
            plans[path], path=path, default_phase=DEFAULT_PHASE, next_plan=next_plan
        )
        number = plan.sub.key.rsplit("-", 1)[-1]
        if number.isdigit():
            used.setdefault(plan.sub.feature, set()).add(int(number))
        if plan.phase_defaulted:
            document.warnings.append(
                f"{path}: names no phase (no 'phase:' key, no NN-MM in its name, no "
                f"phases/NN-name/ folder); imported as phase {plan.sub.feature}"
            )
        document.warnings.extend(plan.warnings)
        if plan.numbered_by_position:
            document.warnings.append(
                f"{path}: names no plan number (no 'plan:' key, no NN-MM in its name); "
                f"imported as plan {plan.sub.key}"
            )
        parsed.append(plan)
    return parsed


def _add_roadmap_state(
    document: PlanDocument,
    features: dict[str, FeatureSpec],
    phases: dict[str, RoadmapPhase],
    roadmap_file: str,
) -> None:
    """Phases and plans ROADMAP.md lists without plan files: kept, with their `[x]`
    state, and each reported, so nothing the roadmap names is dropped silently."""
    planned = {s.key for s in document.sub_features}
    for key, phase in phases.items():
        origin = Origin(roadmap_file, phase.line)
        feature = features.get(key)
        if feature is None:
            feature = features[key] = FeatureSpec(
                key=key, name=phase.name, description=phase.goal, origin=origin
            )
            if phase.tentative:
                document.warnings.append(
                    f"{origin}: Phase {key} ({phase.name}) is tentative, without a number "
                    "of its own yet; kept as a feature without plans"
                )
            elif phase.done:
                feature.status = DONE
            elif not phase.plans:
                why = "its plans are TBD" if phase.plans_tbd else "no plan file in this import"
                document.warnings.append(
                    f"{origin}: Phase {key} ({phase.name}) has no plans yet ({why}); "
                    "kept as a feature without tasks"
                )
        for sub_key, listed in phase.plans.items():
            if sub_key in planned:
                continue
            sub = SubFeatureSpec(
                key=sub_key,
                feature=key,
                name=listed.name or f"Plan {sub_key}",
                origin=Origin(roadmap_file, listed.line),
            )
            if listed.done or phase.done:
                sub.status = DONE
            else:
                document.warnings.append(
                    f"{sub.origin}: plan {sub_key} is listed without a plan file in this "
                    "import; kept as a sub-feature without tasks"
                )
            document.sub_features.append(sub)
            planned.add(sub_key)


def _link_requirements(document: PlanDocument) -> None:
    known_codes = {r.code for r in document.requirements}
    # A plan may cite requirements the folder has no REQUIREMENTS.md entry for.
    cited: dict[str, Origin | None] = {}
    for sub in document.sub_features:
        for code in sub.requirements:
            if code not in known_codes:
                cited.setdefault(code, sub.origin)
    # After those REQUIREMENTS.md lists, by code: the order plans cite them in is not
    # kept anywhere (an export writes each plan's list as it likes).
    for code in sorted(cited):
        document.requirements.append(
            RequirementSpec(
                code=code,
                description=code,
                source=FRONT_MATTER_SOURCE,
                position=len(document.requirements),
                origin=cited[code],
            )
        )
    feature_of_code: dict[str, set[str]] = {}
    for sub in document.sub_features:
        for code in sub.requirements:
            feature_of_code.setdefault(code, set()).add(sub.feature)
    for req in document.requirements:
        req.features = sorted(feature_of_code.get(req.code, set()))


def _find(files: Mapping[str, str], name: str) -> tuple[str, str] | None:
    candidates = sorted(
        (p for p in files if PurePosixPath(p).name.upper() == name.upper()),
        key=lambda p: p.count("/"),
    )
    return (candidates[0], files[candidates[0]]) if candidates else None


def _resolve_plan_dependencies(document: PlanDocument) -> None:
    """Turn `depends_on` entries ("01-04", "1-4", "01-04-auth-setup", a plan's slugged
    name) into sub-feature keys. A plan reference outside the import is kept as an
    external dependency (it holds the plan back until a person marks it satisfied); a
    phrase that names no plan ("after Phase 16 M2M") is kept as a note. Both are
    reported as warnings, never refused."""
    keys = {s.key for s in document.sub_features}
    by_slug: dict[str, str] = {}
    for sub in document.sub_features:
        for alias in (sub.name, sub.extra.get("name", ""), sub.extra.get("slug", "")):
            if alias:
                by_slug[slug(str(alias))] = sub.key
    for sub in document.sub_features:
        resolved = []
        for ref in sub.depends_on:
            match = PLAN_REF.match(ref.strip())
            key = plan_key(match["phase"], match["plan"]) if match else None
            if key not in keys:
                key = by_slug.get(slug(ref))
            if key is None and match:
                # A partial export or a lone plan file: kept so an export writes it back.
                sub.extra.setdefault("external_depends_on", []).append(ref)
                document.warnings.append(
                    f"{sub.origin}: depends_on names {ref!r}, which is not a plan in this "
                    "import; kept as an external dependency to mark satisfied"
                )
            elif key is None:
                sub.extra.setdefault("dependency_notes", []).append(ref)
                document.warnings.append(
                    f"{sub.origin}: depends_on {ref!r} names no plan; kept as a note"
                )
            elif key not in resolved:
                resolved.append(key)
        sub.depends_on = resolved

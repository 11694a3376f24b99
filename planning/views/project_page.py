"""What the project page shows. The project page renders it, and so do the import and
generate forms when they answer a plain post with the whole page and its errors."""

from planning import selectors
from planning.forms import PlanGenerateForm, PlanImportForm, VersionCreateForm
from planning.models import Project, ProjectMembership, Task

# Download buttons, in the order pages show them.
EXPORT_CHOICES = [
    ("markdown", "Markdown"),
    ("json", "JSON"),
    ("gsd", "GSD zip"),
    ("taskmaster", "Task Master"),
]


def project_detail_context(
    project: Project, membership: ProjectMembership, **forms: object
) -> dict[str, object]:
    """The whole project page; `forms` puts a posted form, with its errors, in place of
    the blank one."""
    tree = selectors.plan_tree(project=project)
    unassigned_done = sum(1 for t in tree.unassigned_tasks if t.status == Task.Status.DONE)
    tasks = [*tree.unassigned_tasks]
    for node in tree.features:
        tasks += node.loose_tasks + [t for sub in node.sub_features for t in sub.tasks]
    return {
        "project": project,
        "can_write": membership.can_write,
        "tree": tree,
        "next_task": selectors.task_next_ready(project=project),
        "task_total": sum(n.task_count for n in tree.features) + len(tree.unassigned_tasks),
        "task_done": sum(n.done_count for n in tree.features) + unassigned_done,
        # Work that passed its checks and waits for a person to accept it.
        "task_review": sum(1 for t in tasks if t.status == Task.Status.REVIEW),
        "status_choices": Task.Status.choices,
        "import_form": PlanImportForm(),
        "version_form": VersionCreateForm(),
        "generate_form": PlanGenerateForm(initial={"requirements": project.description}),
        "export_formats": EXPORT_CHOICES,
        **forms,
    }

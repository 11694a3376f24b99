"""Factories shared by every app's tests."""

from typing import Any

import factory
from django.contrib.auth import get_user_model

from agents.models import Agent, AgentRun, AgentState, Checkpoint
from memory.models import MemoryFact
from planning.models import (
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project whose owner is also its owner-member."""

    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def owner_membership(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            ProjectMembership.objects.create(project=self, user=self.owner, role="owner")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = ProjectMembership.Role.EDITOR


class RequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Requirement

    project = factory.SubFactory(ProjectFactory)
    code = factory.Sequence(lambda n: f"REQ-{n:02d}")
    description = factory.Faker("sentence")


class FeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feature

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"{n + 1:02d}")
    name = factory.Faker("catch_phrase")
    position = factory.Sequence(lambda n: n)


class SubFeatureFactory(factory.django.DjangoModelFactory):
    """A sub-feature in its feature's project. Given only a project, its feature is made
    in that project; given only a feature, it takes the feature's project."""

    class Meta:
        model = SubFeature

    # None until _adjust_kwargs: a declaration naming the feature's project would make the
    # feature's default, which names this project, go round in a circle.
    project = None
    feature = factory.SubFactory(
        FeatureFactory,
        project=factory.Maybe(
            "..project",
            yes_declaration=factory.SelfAttribute("..project"),
            no_declaration=factory.SubFactory(ProjectFactory),
        ),
    )
    key = factory.Sequence(lambda n: f"01-{n + 1:02d}")
    name = factory.Faker("catch_phrase")

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        if kwargs["project"] is None:
            kwargs["project"] = kwargs["feature"].project
        return kwargs


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"T{n + 1}")
    name = factory.Faker("sentence", nb_words=4)


class TaskDependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskDependency

    task = factory.SubFactory(TaskFactory)
    depends_on = factory.SubFactory(TaskFactory, project=factory.SelfAttribute("..task.project"))


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"coder-{n}")
    type = Agent.Type.CODER


class AgentRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentRun

    agent = factory.SubFactory(AgentFactory)
    project = factory.SelfAttribute("agent.project")
    idempotency_key = factory.Sequence(lambda n: f"run-{n}")


class CheckpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Checkpoint

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"checkpoint {n}")


class AgentStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentState

    project = factory.SubFactory(ProjectFactory)
    namespace = "scratch"
    key = factory.Sequence(lambda n: f"key-{n}")
    value = factory.LazyFunction(lambda: {"n": 1})


class MemoryFactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemoryFact

    project = factory.SubFactory(ProjectFactory)
    subject = factory.Faker("sentence", nb_words=3)
    confidence = 0.8
    body = factory.LazyAttribute(
        lambda f: {"learned": "pytest runs with -x", "confidence": f.confidence, "source": "test"}
    )

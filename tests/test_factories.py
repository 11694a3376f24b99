"""The shared factories make rows that belong together in one project."""

import pytest

from tests.factories import FeatureFactory, ProjectFactory, SubFeatureFactory

pytestmark = pytest.mark.django_db


def test_a_sub_feature_given_a_project_has_its_feature_in_that_project():
    project = ProjectFactory()

    sub = SubFeatureFactory(project=project)

    assert sub.project == project
    assert sub.feature.project == project


def test_a_sub_feature_given_a_feature_is_in_the_features_project():
    feature = FeatureFactory()

    sub = SubFeatureFactory(feature=feature)

    assert sub.feature == feature
    assert sub.project == feature.project


def test_a_sub_feature_given_nothing_shares_its_features_new_project():
    sub = SubFeatureFactory()

    assert sub.project == sub.feature.project
    assert sub.project.features.count() == 1

import json

from django.urls import reverse

from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.schools.tests.factories import StudentFactory

URL = reverse("accounts:personal_data")


def test_a_parent_downloads_their_own_data_without_id_codes(school_client, school, parent):
    parent.id_code = "48405172715"
    parent.address = "Aia tn 5-12, Jõgeva"
    parent.save()
    child = StudentFactory(school=school, first_name="Kärt")
    parent.children.add(child)
    UserFactory(school=school, email="teine@example.ee", first_name="Teine")
    school_client.force_login(parent)
    response = school_client.get(URL)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode()
    data = json.loads(text)
    assert data["account"]["email"] == parent.email
    assert data["account"]["address"] == "Aia tn 5-12, Jõgeva"
    assert data["children"] == [
        {
            "first_name": "Kärt",
            "last_name": child.last_name,
            "class": "7.b",
            "school": "Jõgeva Põhikool",
        }
    ]
    assert parent.id_code not in text
    assert child.id_code not in text
    assert "teine@example.ee" not in text


def test_the_download_needs_a_login(school_client):
    assert school_client.get(URL).status_code == 302


def test_the_profile_links_to_the_download(school_client, parent):
    school_client.force_login(parent)
    assert URL in school_client.get(reverse("accounts:profile")).content.decode()

#!/usr/bin/env python3
"""The ckanapi client (PyPI `ckanapi`) against a running `yiwang serve --demo`.

Usage: python3 ckan_client.py http://127.0.0.1:8080

ckanapi posts JSON to /api/action/{action} and turns CKAN's error types back into exceptions,
so this checks both our envelope and our errors the way CKAN tools see them.
"""
import sys

import ckanapi


def main(base):
    ckan = ckanapi.RemoteCKAN(base, user_agent="yiwang-ckan-client-test/1.0")

    status = ckan.action.status_show()
    assert status["ckan_version"].startswith("2."), status

    found = ckan.action.package_search(q="信用", fq="tags:黑名单", rows=10)
    assert found["count"] == 1, found
    assert found["results"][0]["name"] == "fgj-xy-0001", found["results"][0]["name"]

    everything = ckan.call_action(
        "package_search", {"q": "*:*", "rows": 2, "sort": "name asc", "facet.field": ["organization", "groups"]}
    )
    assert everything["count"] == 3, everything["count"]
    assert [r["name"] for r in everything["results"]] == ["fgj-xy-0001", "scj-fr-0001"], everything["results"]
    orgs = {i["name"]: i["count"] for i in everything["search_facets"]["organization"]["items"]}
    assert orgs == {"440400-fgj": 1, "440400-scj": 1, "440400-zrj": 1}, orgs

    dataset = ckan.action.package_show(id="scj-fr-0001")
    assert dataset["title"] == "法人基本信息", dataset["title"]
    assert dataset["organization"]["title"] == "珠海市市场监督管理局"
    assert {r["format"] for r in dataset["resources"]} == {"CSV", "JSON"}
    same = ckan.action.package_show(id=dataset["id"])
    assert same["name"] == "scj-fr-0001"

    try:
        ckan.action.package_show(id="ga-rk-0001")
        raise AssertionError("a resource that is not open must not be a dataset")
    except ckanapi.NotFound:
        pass
    try:
        ckan.action.package_show()
        raise AssertionError("package_show without an id must fail validation")
    except ckanapi.ValidationError as e:
        assert "id" in e.error_dict, e.error_dict

    organizations = ckan.action.organization_list(all_fields=True)
    by_name = {o["name"]: o for o in organizations}
    assert by_name["440400-scj"]["title"] == "珠海市市场监督管理局", by_name
    assert by_name["440400-scj"]["package_count"] == 1
    assert ckan.action.organization_list() == sorted(by_name), "names only without all_fields"

    rows = ckan.action.datastore_search(resource_id=dataset["resources"][0]["id"], filters={"status": "存续"}, limit=3)
    assert len(rows["records"]) == 3 and all(r["status"] == "存续" for r in rows["records"]), rows
    assert "legal_representative" not in rows["records"][0], "personal fields are never open data"

    print("ckanapi client: package_search, package_show, organization_list and datastore_search as CKAN answers them")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")

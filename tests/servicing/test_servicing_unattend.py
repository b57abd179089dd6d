"""Answer-file templates: rendered, parsed by independent XML/INF readers, values in place."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pebuild.errors import RecipeError
from pebuild.servicing.unattend import UnattendSpec, bundled_template, render_unattend

NS = {"u": "urn:schemas-microsoft-com:unattend", "wcm": "http://schemas.microsoft.com/WMIConfig/2002/State"}

WDS = {
    "language": "de-DE",
    "input_locale": "0407:00000407",
    "wipe_disk": True,
    "disk_id": 0,
    "partitions": [
        {"type": "Primary", "size": 350, "format": "NTFS", "label": "System", "letter": "", "active": True},
        {
            "type": "Primary",
            "size": None,
            "format": "NTFS",
            "label": "Windows",
            "letter": "C",
            "active": False,
        },
    ],
    "install_partition": 2,
    "image_name": "Windows Server 2008 R2 SERVERENTERPRISE",
    "image_group": "ImageGroup1",
    "image_file": "install.wim",
    "credentials": {"domain": "CORP", "username": "deploy", "password": "{{ wds_password }}"},
}


def component(root: ET.Element, passname: str, name: str) -> ET.Element:
    settings = root.find(f"u:settings[@pass='{passname}']", NS)
    assert settings is not None
    comp = settings.find(f"u:component[@name='{name}']", NS)
    assert comp is not None
    return comp


def test_wds_client_unattend(tmp_path: Path) -> None:
    data = render_unattend(
        UnattendSpec("wds_client", "WDSClientUnattend.xml", settings=WDS),
        arch="amd64",
        variables={"wds_password": "p<&>w"},
    )
    root = ET.fromstring(data)
    intl = component(root, "windowsPE", "Microsoft-Windows-International-Core-WinPE")
    assert intl.get("processorArchitecture") == "amd64"
    assert intl.findtext("u:SetupUILanguage/u:UILanguage", namespaces=NS) == "de-DE"
    assert intl.findtext("u:InputLocale", namespaces=NS) == "0407:00000407"
    setup = component(root, "windowsPE", "Microsoft-Windows-Setup")
    disk = setup.find("u:DiskConfiguration/u:Disk", NS)
    assert disk is not None and disk.findtext("u:WillWipeDisk", namespaces=NS) == "true"
    creates = disk.findall("u:CreatePartitions/u:CreatePartition", NS)
    assert [c.findtext("u:Size", namespaces=NS) for c in creates] == ["350", None]
    assert creates[1].findtext("u:Extend", namespaces=NS) == "true"
    mods = disk.findall("u:ModifyPartitions/u:ModifyPartition", NS)
    assert (
        mods[0].findtext("u:Active", namespaces=NS) == "true"
        and mods[1].findtext("u:Letter", namespaces=NS) == "C"
    )
    wds = setup.find("u:WindowsDeploymentServices", NS)
    assert wds is not None
    assert wds.findtext("u:Login/u:Credentials/u:Password", namespaces=NS) == "p<&>w"  # escaped, round-trips
    assert wds.findtext("u:ImageSelection/u:InstallImage/u:ImageName", namespaces=NS) == WDS["image_name"]
    assert wds.findtext("u:ImageSelection/u:InstallTo/u:PartitionID", namespaces=NS) == "2"


def test_image_unattend_keeps_wds_variables() -> None:
    settings = {
        "computer_name": "%MACHINENAME%",
        "join_domain": "%MACHINEDOMAIN%",
        "domain_credentials": {"domain": "CORP", "username": "join", "password": "x"},
        "registered_owner": "IT",
        "registered_organization": "Corp",
        "product_key": "",
        "timezone": "UTC",
        "admin_password": "secret",
    }
    root = ET.fromstring(
        render_unattend(UnattendSpec("image", "u.xml", settings=settings), arch="x86", variables={})
    )
    shell = component(root, "specialize", "Microsoft-Windows-Shell-Setup")
    assert shell.findtext("u:ComputerName", namespaces=NS) == "%MACHINENAME%"
    assert shell.get("processorArchitecture") == "x86"
    join = component(root, "specialize", "Microsoft-Windows-UnattendedJoin")
    assert join.findtext("u:Identification/u:JoinDomain", namespaces=NS) == "%MACHINEDOMAIN%"
    oobe = component(root, "oobeSystem", "Microsoft-Windows-Shell-Setup")
    assert oobe.findtext("u:UserAccounts/u:AdministratorPassword/u:Value", namespaces=NS) == "secret"


def test_sysprep_inf_reads_with_configparser() -> None:
    settings = {
        "computer_name": "%MACHINENAME%",
        "join_domain": "%MACHINEDOMAIN%",
        "domain_credentials": None,
        "registered_owner": "IT",
        "registered_organization": "Corp",
        "product_key": "",
        "timezone_index": 85,
        "admin_password": "",
    }
    data = render_unattend(
        UnattendSpec("sysprep", "sysprep.inf", settings=settings), arch="x86", variables={}
    )
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(data.decode("cp1252"))
    assert parser["UserData"]["ComputerName"] == "%MACHINENAME%"
    assert parser["Identification"]["JoinDomain"] == "%MACHINEDOMAIN%"
    assert parser["GuiUnattended"]["TimeZone"] == "85"


def test_broken_user_template_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml.j2"
    bad.write_text(
        '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings>{{ s.image_name }}</unattend>'
    )
    spec = UnattendSpec("wds_client", "x.xml", template=bad, settings=dict(WDS))
    with pytest.raises(RecipeError, match="not well-formed XML"):
        render_unattend(spec, arch="amd64", variables={"wds_password": "x"})
    wrong_root = tmp_path / "root.xml.j2"
    wrong_root.write_text("<answers/>")
    with pytest.raises(RecipeError, match="root element must be"):
        render_unattend(UnattendSpec("image", "x.xml", template=wrong_root), arch="amd64", variables={})


def test_undefined_variable_and_bad_sysprep_value() -> None:
    with pytest.raises(RecipeError, match="wds_password"):
        render_unattend(UnattendSpec("wds_client", "x.xml", settings=dict(WDS)), arch="amd64", variables={})
    settings = {
        "computer_name": 'a"b',
        "join_domain": "",
        "domain_credentials": None,
        "registered_owner": "",
        "registered_organization": "",
        "product_key": "",
        "timezone_index": 4,
        "admin_password": "",
    }
    with pytest.raises(RecipeError, match="quotes or newlines"):
        render_unattend(UnattendSpec("sysprep", "s.inf", settings=settings), arch="x86", variables={})


def test_bundled_templates_are_package_data() -> None:
    for kind in ("wds_client", "image", "sysprep"):
        assert "{{" in bundled_template(kind)

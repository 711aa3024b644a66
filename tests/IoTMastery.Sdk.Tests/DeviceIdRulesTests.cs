namespace IoTMastery.Sdk.Tests;

public class DeviceIdRulesTests
{
    public static TheoryData<string, string> InvalidIds => new()
    {
        { "Local", "" }, { "Local", "dev/1" }, { "Local", "dev+1" }, { "Local", "dev#" }, { "Local", new string('a', 129) }, { "Local", "dev-1\n" },
        { "Aws", "dev.1" }, { "Aws", "dev 1" }, { "Aws", "dév" }, { "Aws", new string('a', 129) },
        { "Azure", "dev+1" }, { "Azure", "dev#1" }, { "Azure", "dev/1" }, { "Azure", "dév" },
        { "Gcp", "1dev" }, { "Gcp", "ab" }, { "Gcp", "dev:1" }, { "Gcp", new string('a', 256) },
    };

    public static TheoryData<string, string> ValidIds => new()
    {
        { "Local", "dev-001" }, { "Local", "a" }, { "Local", "site:7.pump_3" }, { "Local", new string('a', 128) },
        { "Aws", "dev-001" }, { "Aws", "thing:A_1" },
        { "Azure", "dev.1(a)@site$" }, { "Azure", "x" },
        { "Gcp", "dev-1+~%" }, { "Gcp", "abc" }, { "Gcp", "a" + new string('b', 254) },
    };

    private static DeviceIdRules Rules(string provider) => provider switch
    {
        "Local" => DeviceIdRules.Local,
        "Aws" => DeviceIdRules.Aws,
        "Azure" => DeviceIdRules.Azure,
        _ => DeviceIdRules.Gcp,
    };

    [Theory]
    [MemberData(nameof(InvalidIds))]
    public void Invalid_ids_are_rejected_with_the_rule_in_the_message(string provider, string id)
    {
        var rules = Rules(provider);
        Assert.False(rules.IsValid(id));
        var ex = Assert.Throws<ArgumentException>(() => rules.Validate(id));
        Assert.Contains(rules.Description, ex.Message, StringComparison.Ordinal);
        Assert.Equal("deviceId", ex.ParamName);
    }

    [Theory]
    [MemberData(nameof(ValidIds))]
    public void Valid_ids_pass(string provider, string id)
    {
        Rules(provider).Validate(id);
        Assert.True(Rules(provider).IsValid(id));
    }

    [Fact]
    public void Null_id_is_an_ArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => DeviceIdRules.Local.Validate(null));
    }

    [Fact]
    public void A_huge_id_is_truncated_in_the_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => DeviceIdRules.Aws.Validate(new string('#', 10_000)));
        Assert.True(ex.Message.Length < 400, ex.Message);
    }
}

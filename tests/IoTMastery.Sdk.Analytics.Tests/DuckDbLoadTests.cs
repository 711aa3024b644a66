using DuckDB.NET.Data;

namespace IoTMastery.Sdk.Analytics.Tests;

public sealed class DuckDbLoadTests
{
    [Fact]
    public void Embedded_duckdb_native_library_loads_and_answers()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 40 + 2";
        Assert.Equal(42, Convert.ToInt32(command.ExecuteScalar()));
    }
}
